{# Issue 9 (5): a PARS record's total board credits never exceed the AMA credits
   of its person, activity and day (the CME credit rides on one of the day's records). #}
with records as (
    select * from {{ ref('fct_pars_records') }}
    where record_action = 'Add'
),

days as (
    select
        person_id,
        activity_id,
        completed_on,
        sum(cme_credits) as day_cme_credits
    from records
    group by person_id, activity_id, completed_on
)

select
    records.record_key,
    records.total_board_credits,
    days.day_cme_credits
from records
inner join days using (person_id, activity_id, completed_on)
where
    records.board is not null
    and records.total_board_credits > days.day_cme_credits

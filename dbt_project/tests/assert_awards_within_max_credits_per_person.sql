{# Issue 9 (4): over all their completions and accounts, a person earns at most the
   designated maximum per activity and credit type; per session date for formats
   designated per session (seed activity_formats). #}
with awards as (select * from {{ ref('fct_credit_awards') }}),
activities as (select * from {{ ref('dim_activities') }}),
formats as (select * from {{ ref('activity_formats') }}),

keyed as (
    select
        awards.*,
        case when coalesce(formats.designation_per_session, false) then awards.completed_on end
            as session_on
    from awards
    left join activities using (activity_id)
    left join formats on activities.activity_format = formats.activity_format
)

select
    person_id,
    activity_id,
    credit_type,
    session_on,
    sum(credits_awarded) as earned,
    max(max_credits) as max_credits
from keyed
group by person_id, activity_id, credit_type, session_on
having sum(credits_awarded) > max(max_credits)

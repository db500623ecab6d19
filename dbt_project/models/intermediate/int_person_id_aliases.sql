{# Person ids retired by a merge, each with the id its accounts carry now. What
   was sent under a retired id is the merged person's: record keys that name a
   retired id are read as the current id (int_submissions_tracked), so a merge
   never re-sends, withdraws or "corrects" a record. An id still current for
   someone (the kept side of a split) is not an alias. #}
with assigned as (select * from {{ ref('int_person_ids_assigned') }}),

retired as (
    select * from assigned
    where not is_current
),
current_ids as (
    select * from assigned
    where is_current
),

final as (
    select
        retired.person_id as alias_person_id,
        min(current_ids.person_id) as person_id
    from retired
    inner join current_ids using (learner_id)
    where retired.person_id not in (select any_current.person_id from current_ids as any_current)
    group by retired.person_id
)

select * from final

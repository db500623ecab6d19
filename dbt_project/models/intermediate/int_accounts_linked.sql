{# Each learner account and the person it belongs to today, with that person's
   stable id (int_person_ids_assigned). #}
with assigned as (select * from {{ ref('int_person_ids_assigned') }}),

final as (
    select
        learner_id,
        person_id,
        anchor_learner_id
    from assigned
    where is_current
)

select * from final

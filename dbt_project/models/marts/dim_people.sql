{# One row per person (a group of learner accounts that share a strong key). #}
with people as (select * from {{ ref('int_people_resolved') }}),

final as (
    select
        person_id,
        account_count,
        learner_ids,
        first_name,
        last_name,
        birth_month_day,
        profession,
        npi,
        invalid_npi,
        nabp_eprofile_id,
        moc_consent,
        has_identity_conflict,
        nullif(identity_conflict_reason, '') as identity_conflict_reason,
        updated_at
    from people
)

select * from final

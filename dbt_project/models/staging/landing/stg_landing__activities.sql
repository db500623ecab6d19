with source as (select * from {{ source('landing', 'activities') }}),

final as (
    select
        activity_id,
        title,
        activity_format,
        start_date,
        end_date,
        accme_activity_id,
        cebroker_course_id,
        providership,
        commercial_support,
        commercial_agreement_signed_date,
        evaluation_required,
        passing_score,
        delivery_method,
        location_city,
        location_state,
        location_country,
        description,
        joint_provider_name,
        outcome_measures,
        commercial_support_monetary,
        commercial_support_in_kind,
        pars_physician_learners,
        pars_other_learners,
        updated_at,
        _extract_date as extracted_on,
        _line as source_line,
        _load_id as load_id
    from source
)

select * from final

with source as (select * from {{ source('landing', 'learners') }}),

final as (
    select
        learner_id,
        first_name,
        last_name,
        email,
        date_of_birth,
        profession,
        npi,
        nabp_eprofile_id,
        moc_consent,
        updated_at,
        _extract_date as extracted_on,
        _line as source_line,
        _load_id as load_id
    from source
)

select * from final

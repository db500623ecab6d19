with source as (select * from {{ source('landing', 'learner_licenses') }}),

final as (
    select
        learner_id,
        upper(state) as state,
        license_number,
        license_profession,
        expires_on,
        _extract_date as extracted_on,
        _line as source_line,
        _load_id as load_id
    from source
)

select * from final

with source as (select * from {{ source('landing', 'quarantine') }}),

final as (
    select
        _file as file_name,
        _line as source_line,
        "column" as column_name,
        reason,
        all_problems,
        raw_values,
        _extract_date as extracted_on,
        _load_id as load_id
    from source
)

select * from final

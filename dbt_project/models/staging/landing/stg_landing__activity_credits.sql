with source as (select * from {{ source('landing', 'activity_credits') }}),

final as (
    select
        activity_id,
        credit_type,
        cast(max_credits as decimal(9, 2)) as max_credits,
        uan,
        _extract_date as extracted_on,
        _line as source_line,
        _load_id as load_id
    from source
)

select * from final

with source as (select * from {{ source('landing', 'commercial_supports') }}),

final as (
    select
        activity_id,
        supporter,
        monetary_amount,
        in_kind_amount,
        agreement_signed_date,
        _extract_date as extracted_on,
        _line as source_line,
        _load_id as load_id
    from source
)

select * from final

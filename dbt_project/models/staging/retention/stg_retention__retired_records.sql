with source as (select * from {{ source('retention', 'retired_records') }}),

final as (
    select
        body,
        record_key,
        as_of as retired_as_of,
        run_id as retention_run_id
    from source
)

select * from final

with source as (select * from {{ source('landing', 'disclosure_documents') }}),

final as (
    select
        disclosure_id,
        file_name,
        sha256 as stored_sha256
    from source
)

select * from final

{# Reference data is an upsert: the latest extract on or before the run date wins per key. #}
with landed as (select * from {{ ref('stg_landing__activity_credits') }}),

final as (
    select *
    from landed
    where extracted_on <= {{ run_date() }}
    qualify row_number() over (partition by activity_id, credit_type order by extracted_on desc, source_line desc) = 1
)

select * from final

{# Reference data is an upsert: the latest extract wins per activity and supporter. #}
with landed as (select * from {{ ref('stg_landing__commercial_supports') }}),

final as (
    select *
    from landed
    qualify row_number() over (partition by activity_id, supporter
                               order by extracted_on desc, source_line desc) = 1
)

select * from final

{# The credit each activity designates: one row per activity and credit type,
   the latest landed version (activity_credits.csv). #}
with credits as (select * from {{ ref('int_activity_credits_deduplicated') }}),

final as (
    select
        activity_id,
        credit_type,
        max_credits,
        uan
    from credits
)

select * from final

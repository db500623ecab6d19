{# Reference data is an upsert: the latest extract wins per key (later extracts never
   lose to a re-run of an older day). #}
with landed as (select * from {{ ref('stg_landing__activities') }}),

final as (
    {{ first_row_per('landed', ['activity_id'], 'extracted_on desc, source_line desc') }}
)

select * from final

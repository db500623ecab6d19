{# Reference data is an upsert: the latest extract wins per key (later extracts never
   lose to a re-run of an older day). #}
with landed as (select * from {{ ref('stg_landing__learner_licenses') }}),

final as (
    {{ first_row_per('landed', ['learner_id', 'state', 'license_number'], 'extracted_on desc, source_line desc') }}
)

select * from final

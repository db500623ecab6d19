{# Reference data is an upsert: the latest extract wins per activity and supporter. #}
with landed as (select * from {{ ref('stg_landing__commercial_supports') }}),

final as (
    {{ first_row_per('landed', ['activity_id', 'supporter'], 'extracted_on desc, source_line desc') }}
)

select * from final

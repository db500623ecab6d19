{# Faculty disclosure rows as of the run date: the latest extract of each
   (disclosure, relationship) wins, staff rows included (the readers drop them). #}
with landed as (select * from {{ ref('stg_landing__faculty_disclosures') }}),

final as (
    {{ first_row_per('landed', ['disclosure_id', 'relationship_seq'], 'extracted_on desc, source_line desc') }}
)

select * from final

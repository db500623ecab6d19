{# Reference data is an upsert: the latest extract wins per key (later extracts never lose to a re-run of an older day). #}
with landed as (select * from {{ ref('stg_landing__learner_licenses') }}),

final as (
    select *
    from landed
    qualify row_number() over (partition by learner_id, state, license_number order by extracted_on desc, source_line desc) = 1
)

select * from final

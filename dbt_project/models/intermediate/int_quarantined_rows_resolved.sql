{# A quarantined row is resolved when a later extract loads a row with the same
   key (the provider re-sent it corrected). Keys per file are the landing contract's
   (cme.contract, Extract.key; tests/test_dbt_conventions.py checks they agree). #}
{% set keys = {
    'activities.csv': ('stg_landing__activities', ['activity_id']),
    'activity_credits.csv': ('stg_landing__activity_credits', ['activity_id', 'credit_type']),
    'commercial_support.csv': ('stg_landing__commercial_supports', ['activity_id', 'supporter']),
    'learners.csv': ('stg_landing__learners', ['learner_id']),
    'learner_licenses.csv': ('stg_landing__learner_licenses', ['learner_id', 'state', 'license_number']),
    'learner_board_ids.csv': ('stg_landing__learner_board_ids', ['learner_id', 'board']),
    'lms_completions.csv': ('stg_landing__lms_completions', ['completion_id', 'status']),
    'attendance.csv': ('stg_landing__attendances', ['attendance_id']),
    'faculty_disclosures.csv': ('stg_landing__faculty_disclosures', ['disclosure_id', 'relationship_seq']),
} %}

with quarantine as (select * from {{ ref('stg_landing__quarantined_rows') }}),

resolved as (
    {% for file, (model, columns) in keys.items() %}
        select
            q.file_name,
            q.extracted_on,
            q.source_line
        from quarantine as q
        inner join {{ ref(model) }} as loaded
            on
                loaded.extracted_on > q.extracted_on
                {% for c in columns %}
                    and upper(trim(cast(loaded.{{ c }} as varchar)))
                    = upper(trim({{ json_text('q.raw_values', c) }}))
                {% endfor %}
        where q.file_name = '{{ file }}'
        {% if not loop.last %}union{% endif %}
    {% endfor %}
),

resolved_rows as (select distinct * from resolved),

final as (
    select
        quarantine.*,
        resolved_rows.source_line is not null as is_resolved
    from quarantine
    left join resolved_rows using (file_name, extracted_on, source_line)
)

select * from final

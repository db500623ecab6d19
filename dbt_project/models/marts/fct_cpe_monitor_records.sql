{# CPE Monitor records: one per person x UAN x participation date, for ACPE
   pharmacist and technician credit. Nothing is accepted more than 60 days
   (setting) after participation, and there are no deletes: a record live at
   CPE Monitor that no longer matches needs MANUAL_CORRECTION_REQUIRED. #}
{# provider_number is a batch-level setting, not record content: not hashed #}
{% set payload_columns = ['epid', 'date_of_birth', 'uan', 'participation_date',
    'action', 'contact_hours'] %}

{# the credit a record carries; learner names and identifiers are not content #}
{% set content_columns = ['epid', 'uan', 'participation_date', 'action', 'contact_hours'] %}

{% set uan_pattern = "'([0-9]{4}|JA[0-9]{7})-(0000|9999)-[0-9]{2}-[0-9]{3}-[LH][0-9]{2}-[PT]'" %}

with awards as (
    select * from {{ ref('fct_credit_awards') }}
    where body = 'CPE_MONITOR'
),
people as (select * from {{ ref('dim_people') }}),
tracked as (
    select * from {{ ref('int_submissions_tracked') }}
    where body = 'CPE_MONITOR'
),
credit_types as (select * from {{ ref('int_credit_types_configured') }}),

per_uan as (
    select
        person_id,
        coalesce(nullif(trim(uan), ''), '(none)') as uan,
        completed_on,
        {{ any_value_of('credit_type') }} as credit_type,
        min(activity_id) as activity_id,  -- a UAN names one activity
        sum(credits_awarded) as contact_hours
    from awards
    group by person_id, coalesce(nullif(trim(uan), ''), '(none)'), completed_on
),

current_records as (
    select
        'CPE_MONITOR' as body,
        {# CPE Monitor's own key: ePID x UAN x participation date (the ePID hashed:
           keys carry no identifier). A person with no ePID yet is held
           (MISSING_EPID) under a person key. #}
        'CPE_MONITOR|' || coalesce('E' || substr(md5(people.nabp_eprofile_id), 1, 16), per_uan.person_id)
        || '|' || per_uan.uan || '|' || per_uan.completed_on as record_key,
        per_uan.person_id,
        per_uan.activity_id,
        per_uan.completed_on,
        '{{ var("acpe_provider_number") }}' as provider_number,
        people.nabp_eprofile_id as epid,
        replace(people.birth_month_day, '/', '') as date_of_birth,
        per_uan.uan,
        {{ format_date('per_uan.completed_on', '%m/%d/%Y') }} as participation_date,
        'I' as action,
        cast(per_uan.contact_hours as decimal(9, 2)) as contact_hours,
        per_uan.completed_on + {{ var('cpe_monitor_window_days') }} as due_on,
        per_uan.completed_on + {{ var('cpe_monitor_window_days') }} as window_closes_on,
        {{ codes([
            "case when people.nabp_eprofile_id is null then 'MISSING_EPID' end",
            "case when people.birth_month_day is null then 'MISSING_DOB' end",
            "case when not " ~ regex_full_match('per_uan.uan', uan_pattern) ~ " then 'INVALID_UAN' end",
            "case when " ~ regex_full_match('per_uan.uan', uan_pattern) ~ " and right(per_uan.uan, 1) <> case people.profession when 'pharmacist' then 'P' when 'pharmacy_technician' then 'T' end then 'UAN_AUDIENCE_MISMATCH' end",
            "case when " ~ as_of_date() ~ " > per_uan.completed_on + " ~ var('cpe_monitor_window_days') ~ " then 'WINDOW_CLOSED' end",
            unsupported_character(['people.nabp_eprofile_id', 'people.birth_month_day', 'per_uan.uan']),
        ]) }} as error_codes
    from per_uan
    inner join people using (person_id)
),

hashed as (
    select
        *,
        {{ record_hash(payload_columns) }} as record_hash,
        {{ record_hash(content_columns) }} as content_hash
    from current_records
),

records as (
    {{ add_records_with_state('hashed', 'tracked', one_live_version=true) }}
),

{# The record-level rule the gate checks besides the error codes, computed here once:
   the hours are a whole number of the body's credit step (catalog seed). #}
body_step as (
    select min(nullif(step, 0)) as step from credit_types
    where body = 'CPE_MONITOR'
),

final as (
    select
        records.*,
        {{ is_on_step('records.contact_hours', 'body_step.step') }} as credits_on_step
    from records
    cross join body_step
)

select * from final

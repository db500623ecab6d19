{# CE Broker roster records: one per license x activity x completion date, for
   a person holding a license in a CE Broker state (setting) whose profession
   code matches theirs (seed), with credit the catalog routes to CE Broker.
   CE Broker allows no edits or deletes: a record live there that no longer
   matches the data needs MANUAL_CORRECTION_REQUIRED, and is never re-sent. #}
{# provider_number is a batch-level setting, not record content: not hashed #}
{% set payload_columns = ['course_number', 'completion_date', 'license_profession',
    'license_number', 'state', 'first_name', 'last_name', 'credit_hours'] %}

{# the credit a record carries; learner names and identifiers are not content #}
{% set content_columns = ['course_number', 'completion_date', 'license_profession', 'license_number', 'state',
    'credit_hours'] %}

with awards as (
    select * from {{ ref('fct_credit_awards') }}
    where body = 'CE_BROKER'
),
people as (select * from {{ ref('dim_people') }}),
activities as (select * from {{ ref('dim_activities') }}),
licenses as (
    select * from {{ ref('int_person_identifiers_collected') }}
    where
        identifier_kind = 'license'
        and state in ({% for s in var('cebroker_states') %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %})
),
profession_licenses as (select * from {{ ref('profession_licenses') }}),
patterns as (select * from {{ ref('license_patterns') }}),
tracked as (
    select * from {{ ref('int_submissions_tracked') }}
    where body = 'CE_BROKER'
),
credit_types as (select * from {{ ref('int_credit_types_configured') }}),

per_license as (
    select
        awards.person_id,
        awards.activity_id,
        awards.completed_on,
        licenses.state,
        licenses.license_number,
        licenses.license_profession,
        licenses.expires_on,
        sum(awards.credits_awarded) as credit_hours
    from awards
    inner join people using (person_id)
    inner join profession_licenses on people.profession = profession_licenses.profession
    inner join licenses
        on
            awards.person_id = licenses.person_id
            and profession_licenses.license_profession = licenses.license_profession
    group by
        awards.person_id, awards.activity_id, awards.completed_on,
        licenses.state, licenses.license_number, licenses.license_profession, licenses.expires_on
),

current_records as (
    select
        'CE_BROKER' as body,
        {# CE Broker's own key: license x course x completion date. No person id,
           so merging accounts never changes it; the license number is hashed so
           keys (shown on the dashboard, kept in gate files) carry no identifier. #}
        'CE_BROKER|' || per_license.state || '|' || per_license.license_profession || '|'
        || substr(md5(per_license.license_number), 1, 16) || '|' || per_license.activity_id || '|'
        || per_license.completed_on as record_key,
        per_license.person_id,
        per_license.activity_id,
        per_license.completed_on,
        regexp_replace('{{ var("cebroker_provider_tracking_number") }}', '^50-', '') as provider_number,
        regexp_replace(activities.cebroker_course_id, '^20-', '') as course_number,
        {{ format_date('per_license.completed_on', '%m/%d/%Y') }} as completion_date,
        per_license.license_profession,
        per_license.license_number,
        per_license.state,
        people.first_name,
        people.last_name,
        cast(per_license.credit_hours as decimal(9, 2)) as credit_hours,
        per_license.completed_on + {{ var('cebroker_window_days') }} as due_on,
        cast(null as date) as window_closes_on,  -- none known [A]: late rows still go, flagged
        {{ codes([
            "case when activities.cebroker_course_id is null then 'COURSE_NOT_REGISTERED' end",
            "case when patterns.pattern is not null and not " ~ regex_full_match('per_license.license_number', 'patterns.pattern') ~ " then 'INVALID_LICENSE_FORMAT' end",
            unsupported_character(['activities.cebroker_course_id', 'per_license.license_profession', 'per_license.license_number', 'per_license.state', 'people.first_name', 'people.last_name']),
            "case when per_license.expires_on < per_license.completed_on then 'LICENSE_EXPIRED' end",
        ]) }} as error_codes
    from per_license
    inner join people using (person_id)
    inner join activities using (activity_id)
    left join patterns
        on
            per_license.state = patterns.state
            and per_license.license_profession = patterns.license_profession
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
    where body = 'CE_BROKER'
),

final as (
    select
        records.*,
        {{ is_on_step('records.credit_hours', 'body_step.step') }} as credits_on_step
    from records
    cross join body_step
)

select * from final

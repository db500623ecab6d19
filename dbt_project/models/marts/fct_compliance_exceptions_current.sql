{# Every problem open as of this run, from every source (rules section 7).
   Record-level problems (the marts' error_codes, WINDOW_CLOSED among them)
   concern records not yet sent; LATE is judged against the as-of date. exception_id is a hash of body, reason and
   subject, so the same problem keeps its id across runs.
   A mart-layer step (it reads the body marts and the dimensions), ephemeral: it is
   fct_compliance_exceptions' input, not a table of its own; analysts read the queue. #}
{{ config(materialized='ephemeral') }}
with body_records as (select * from {{ ref('fct_body_records') }}),
pars_activities as (select * from {{ ref('fct_pars_activities') }}),
commercial_supports as (select * from {{ ref('int_commercial_supports_deduplicated') }}),
tracked as (select * from {{ ref('int_submissions_tracked') }}),
people as (select * from {{ ref('dim_people') }}),
quarantine as (select * from {{ ref('int_quarantined_rows_resolved') }}),
completions as (select * from {{ ref('int_completions_unioned') }}),
disclosure_problems as (select * from {{ ref('int_disclosures_evaluated') }}),
activities as (select * from {{ ref('dim_activities') }}),
activity_credits as (select * from {{ ref('int_activity_credits_deduplicated') }}),
credit_types as (select * from {{ ref('credit_types') }}),

records as (
    select
        body,
        record_key,
        person_id,
        activity_id,
        completed_on,
        due_on,
        window_closes_on,
        error_codes,
        submission_state,
        body_message
    from body_records
    where record_action = 'Add'
),

pending as (
    select * from records
    where submission_state = 'pending'
),

record_errors as (
    select
        pending.body,
        codes.code as reason_code,
        'error' as severity,
        pending.record_key as subject_key,
        pending.person_id,
        pending.activity_id,
        pending.record_key,
        pending.due_on,
        case
            when codes.code = 'WINDOW_CLOSED'
                then 'the body accepts nothing after ' || {{ format_date('pending.window_closes_on', '%m/%d/%Y') }}
        end as detail
    from pending
    cross join unnest(pending.error_codes) as codes (code)
),

deadlines as (
    select
        body,
        'LATE' as reason_code,
        'warning' as severity,
        record_key as subject_key,
        person_id,
        activity_id,
        record_key,
        due_on,
        'past due on ' || {{ format_date('due_on', '%m/%d/%Y') }} as detail
    from pending
    where
        {{ as_of_date() }} > due_on
        and (window_closes_on is null or {{ as_of_date() }} <= window_closes_on)
),

rejections as (
    select
        body,
        'REJECTED_BY_BODY' as reason_code,
        'error' as severity,
        record_key as subject_key,
        person_id,
        activity_id,
        record_key,
        due_on,
        body_message as detail
    from records
    where submission_state = 'rejected'
),

{# CE Broker and CPE Monitor take no deletes or edits: a sent record that no
   longer matches the data must be corrected by hand at the body. #}
corrections as (
    select
        tracked.body,
        'MANUAL_CORRECTION_REQUIRED' as reason_code,
        'error' as severity,
        tracked.record_key || '|' || tracked.record_hash as subject_key,
        tracked.person_id,
        tracked.activity_id,
        tracked.record_key,
        cast(null as date) as due_on,
        case
            when records.record_key is null then 'sent record no longer supported by the data (revoked or removed)'
            else 'sent record differs from the current data'
        end as detail
    from tracked
    left join records
        on tracked.body = records.body and tracked.record_key = records.record_key
    where
        tracked.body in ('CE_BROKER', 'CPE_MONITOR')
        and tracked.is_live
        -- a person in identity conflict has credit on hold, not withdrawn: nothing to correct
        and coalesce(tracked.person_id, '') not in (
            select people.person_id from people
            where people.has_identity_conflict
        )
        -- retention purged its completions: what the body holds stands, nothing to correct
        and not tracked.is_retired
        and not exists (
            select 1 from records as r
            where
                r.body = tracked.body and r.record_key = tracked.record_key
                and r.submission_state in ('written', 'sent', 'accepted')
        )
),

identity as (
    select
        'IDENTITY' as body,
        'IDENTITY_CONFLICT' as reason_code,
        'error' as severity,
        person_id as subject_key,
        person_id,
        cast(null as varchar) as activity_id,
        cast(null as varchar) as record_key,
        cast(null as date) as due_on,
        identity_conflict_reason as detail
    from people
    where has_identity_conflict
),

ingest as (
    select
        'INGEST' as body,
        'QUARANTINED_ROW' as reason_code,
        'warning' as severity,
        file_name || '@' || extracted_on || ':' || source_line as subject_key,
        cast(null as varchar) as person_id,
        cast(null as varchar) as activity_id,
        cast(null as varchar) as record_key,
        cast(null as date) as due_on,
        file_name
        || ' line '
        || source_line
        || ': '
        || coalesce(nullif(column_name, '') || ': ', '')
        || reason as detail
    from quarantine
    where not is_resolved
    union all
    select
        'INGEST',
        'UNMATCHED_COMPLETION',
        'warning',
        completion_key,
        person_id,
        activity_id,
        null,
        null,
        case when person_id is null then 'learner account not found' else 'activity not found' end
    from completions
    where not is_matched
    union all
    {# A designation the catalog does not know would otherwise vanish in the
       decisions' join: a credit type code is not personal data, so name it. #}
    select
        'INGEST',
        'UNKNOWN_CREDIT_TYPE',
        'error',
        activity_credits.activity_id || '|' || activity_credits.credit_type,
        null,
        activity_credits.activity_id,
        null,
        null,
        'activity ' || activity_credits.activity_id || ' designates credit type '''
        || activity_credits.credit_type || ''', which is not in the credit-type catalog'
    from activity_credits
    where not exists (
        select 1 from credit_types
        where credit_types.credit_type = activity_credits.credit_type
    )
),

{# Standard 3 and 4: each open problem with its due date (role or activity start);
   one not yet due is an upcoming problem, not yet a finding. #}
disclosures as (
    select
        'DISCLOSURE' as body,
        reason_code,
        case when due_on >= {{ as_of_date() }} then 'warning' else 'error' end as severity,
        activity_id || '|' || faculty_person_id || '|' || role as subject_key,
        faculty_person_id as person_id,
        activity_id,
        cast(null as varchar) as record_key,
        due_on,
        role || ' ' || faculty_person_id || ': ' || detail as detail
    from disclosure_problems
    union all
    select
        'DISCLOSURE',
        'COMMERCIAL_AGREEMENT_LATE',
        case when start_date >= {{ as_of_date() }} then 'warning' else 'error' end,
        activity_id as subject_key,
        null as person_id,
        activity_id,
        null,
        start_date,
        case
            when commercial_agreement_signed_date is null then 'commercial support without a signed agreement'
            else 'commercial support agreement signed after the activity started'
        end
    from activities
    where
        commercial_support
        and commercial_supporters = 0
        and (commercial_agreement_signed_date is null or commercial_agreement_signed_date > start_date)
    union all
    {# per supporter, when the LMS lists them: each needs its own agreement (Standard 4) #}
    select
        'DISCLOSURE',
        'COMMERCIAL_AGREEMENT_LATE',
        case when activities.start_date >= {{ as_of_date() }} then 'warning' else 'error' end,
        activities.activity_id || '|' || commercial_supports.supporter,
        null,
        activities.activity_id,
        null,
        activities.start_date,
        'supporter ' || commercial_supports.supporter || ': '
        || case
            when commercial_supports.agreement_signed_date is null then 'commercial support without a signed agreement'
            else 'commercial support agreement signed after the activity started'
        end
    from commercial_supports
    inner join activities using (activity_id)
    where
        commercial_supports.agreement_signed_date is null
        or commercial_supports.agreement_signed_date > activities.start_date
),

{# The activity layer (PARS activity records): what an accreditation review finds
   first. Each is due at the year close; before it, an upcoming problem. #}
activity_problems as (
    select
        body,
        'ACTIVITY_NOT_IN_PARS' as reason_code,
        record_key as subject_key,
        activity_id,
        record_key,
        due_on,
        'activity ' || activity_id || ', ' || reporting_year || ': no ACCME activity id and no activity record sent'
            as detail
    from pars_activities
    where
        accme_activity_id is null
        and submission_state not in ('written', 'sending', 'sent', 'accepted')
    union all
    select
        body,
        'ACTIVITY_FIELDS_MISSING',
        record_key as subject_key,
        activity_id,
        record_key,
        due_on,
        'activity ' || activity_id || ', ' || reporting_year || ' is ' || pars_status
        || '; to be Closed by ' || {{ format_date('due_on', '%m/%d/%Y') }} || ' it needs: '
        || array_to_string(missing_fields, ', ')
    from pars_activities
    where {{ list_length('missing_fields') }} > 0
    union all
    select
        body,
        'LEARNER_COUNT_MISMATCH',
        record_key as subject_key,
        activity_id,
        record_key,
        due_on,
        'activity ' || activity_id || ', ' || reporting_year || ': the credit facts count '
        || physician_learners || ' physician and ' || other_learners || ' other learners; '
        || case
            when pars_physician_learners is not null or pars_other_learners is not null
                then
                    'PARS was given ' || coalesce(cast(pars_physician_learners as varchar), '?') || ' and '
                    || coalesce(cast(pars_other_learners as varchar), '?') || ' by hand'
            else
                'the record live at PARS says ' || live_physician_learners || ' and '
                || live_other_learners || ', and the year is closed'
        end
    from pars_activities
    where (
        (pars_physician_learners is not null or pars_other_learners is not null)
        and reporting_year = {{ year_of('end_date') }}
        and (
            pars_physician_learners is distinct from physician_learners
            or pars_other_learners is distinct from other_learners
        )
    )
    or (
        live_physician_learners is not null and {{ as_of_date() }} > due_on
        and (live_physician_learners <> physician_learners or live_other_learners <> other_learners)
    )
),

activities_layer as (
    select
        body,
        reason_code,
        case when due_on >= {{ as_of_date() }} then 'warning' else 'error' end as severity,
        subject_key,
        cast(null as varchar) as person_id,
        activity_id,
        record_key,
        due_on,
        detail
    from activity_problems
),

unioned as (
    select * from record_errors
    union all
    select * from disclosures
    union all
    select * from deadlines
    union all
    select * from rejections
    union all
    select * from corrections
    union all
    select * from identity
    union all
    select * from ingest
    union all
    select * from activities_layer
),

final as (
    select
        md5(body || '|' || reason_code || '|' || subject_key) as exception_id,
        *
    from unioned
)

select * from final

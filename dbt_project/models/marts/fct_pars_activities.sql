{# PARS (or JA-PARS) activity records: one per activity and reporting year.

   Which activities: for an ACCME provider, those designating credit that PARS
   takes (AMA PRA Category 1 or a board's MOC); for a jointly accredited provider,
   every activity. Which years: each calendar year the activity runs (up to the
   current one) and each year it has awards in.

   pars_status is the furthest PARS status (reference, "Activity data") the data
   supports today: Draft needs title, format and dates; Active adds delivery
   method, location (in-person or hybrid only), description, AMA PRA Category 1
   credits designated and providership; Closed adds the joint provider's name
   (jointly provided only), an outcome measure, the commercial-support answer and
   amounts, and can only be reached once the year's part of the activity is over
   (learner counts are final). Every year must be Closed by the year close
   (pars_activity_year_close of the next year): missing_fields lists what it
   still lacks for that.

   The record sent is the activity and year at its current status; it is an
   upsert at PARS (same Provider Activity ID and year), so a changed version goes
   again as the new one. Learner counts ride on Closed records only, so an
   activity in progress is not re-sent every day a learner finishes it. #}
{% set body_name = "JA_PARS_ACTIVITIES" if var("accreditor") == "JA" else "ACCME_PARS_ACTIVITIES" %}
{% set year_close = var('pars_activity_year_close') %}
{% set ja_professions = ['nurse', 'pharmacist', 'pharmacy_technician', 'physician_assistant',
    'psychologist', 'social_worker', 'dietitian', 'other'] %}
{% set payload_columns = ['activity_id', 'accme_activity_id', 'reporting_year', 'pars_status', 'title',
    'activity_format', 'start_date_text', 'end_date_text', 'delivery_method', 'location_city',
    'location_state', 'location_country', 'description', 'cme_credits_designated', 'providership_text',
    'joint_provider_name', 'outcome_measures_text', 'commercial_support_text',
    'commercial_support_monetary', 'commercial_support_in_kind', 'record_physician_learners',
    'record_other_learners', 'moc_boards_text', 'moc_credits_text'] %}
{% if var("accreditor") == "JA" %}
{% do payload_columns.append('ipce_text') %}
{% for p in ja_professions %}{% do payload_columns.append('record_' ~ p ~ '_participants') %}{% endfor %}
{% endif %}

{% set unknown_measures = list_without('reportable.outcome_measures',
    ["'competence'", "'performance'", "'patient_health'", "'community_health'"]) %}

with activities as (select * from {{ ref('dim_activities') }}),
credits as (select * from {{ ref('int_activity_credits_deduplicated') }}),
credit_types as (select * from {{ ref('int_credit_types_configured') }}),
awards as (select * from {{ ref('fct_credit_awards') }}),
people as (select * from {{ ref('dim_people') }}),
learner_records as (select * from {{ ref('fct_pars_records') }}),
tracked as (
    select * from {{ ref('int_submissions_tracked') }}
    where body = '{{ body_name }}'
),

designated as (
    select
        credits.activity_id,
        cast(max(credits.max_credits) filter (where credits.credit_type = 'AMA_PRA_1') as decimal(9, 2))
            as cme_credits_designated,
        coalesce(bool_or(credits.credit_type = 'IPCE'), false) as is_ipce,
        coalesce(bool_or(credit_types.body = 'ACCME_PARS'), false) as has_pars_credit,
        {{ distinct_sorted_list_agg('credit_types.moc_board', filter='credit_types.moc_board is not null') }}
            as moc_boards,
        {{ list_agg("credit_types.report_label || '=' || cast(cast(credits.max_credits as decimal(9, 2)) as varchar)",
                    'credit_types.report_label', filter='credit_types.moc_board is not null') }}
            as moc_credits
    from credits
    left join credit_types using (credit_type)
    group by credits.activity_id
),

reportable as (
    select
        activities.*,
        designated.cme_credits_designated,
        designated.is_ipce,
        designated.has_pars_credit,
        designated.moc_boards,
        designated.moc_credits
    from activities
    inner join designated using (activity_id)
    {% if var("accreditor") != "JA" %}where designated.has_pars_credit{% endif %}
),

activity_years as (
    select
        activity_id,
        {{ unnest_range(year_of('start_date'), 'greatest(' ~ year_of('start_date') ~ ', least('
            ~ year_of('end_date') ~ ', ' ~ year_of(as_of_date()) ~ '))') }} as reporting_year
    from reportable
    union
    select distinct
        awards.activity_id,
        {{ year_of('awards.completed_on') }}
    from awards
    inner join reportable using (activity_id)
),

learner_counts as (
    select
        awards.activity_id,
        {{ year_of('awards.completed_on') }} as reporting_year,
        count(distinct awards.person_id) filter (where people.profession = 'physician') as physician_learners,
        count(distinct awards.person_id) filter (where people.profession is distinct from 'physician')
            as other_learners,
        {% for p in ja_professions %}
            count(distinct awards.person_id) filter (
                where coalesce(people.profession, 'other') = '{{ p }}'
            ) as {{ p }}_participants{% if not loop.last %},{% endif %}
        {% endfor %}
    from awards
    inner join people using (person_id)
    group by awards.activity_id, {{ year_of('awards.completed_on') }}
),

learner_reporting as (
    select
        activity_id,
        {{ year_of('completed_on') }} as reporting_year,
        count(*) as learner_records,
        count(*) filter (where submission_state in ('written', 'sending', 'sent', 'accepted')) as learner_records_sent,
        count(*) filter (where submission_state = 'accepted') as learner_records_accepted
    from learner_records
    where record_action = 'Add' and submission_state <> 'superseded'
    group by activity_id, {{ year_of('completed_on') }}
),

checked as (
    select
        reportable.*,
        activity_years.reporting_year,
        least(reportable.end_date, make_date(activity_years.reporting_year, 12, 31)) as period_ends_on,
        make_date(activity_years.reporting_year + 1, {{ year_close[:2] | int }}, {{ year_close[3:] | int }}) as due_on,
        {{ as_of_date() }}
        > least(reportable.end_date, make_date(activity_years.reporting_year, 12, 31)) as is_period_over,
        coalesce(learner_counts.physician_learners, 0) as physician_learners,
        coalesce(learner_counts.other_learners, 0) as other_learners,
        {% for p in ja_professions %}
            coalesce(learner_counts.{{ p }}_participants, 0) as {{ p }}_participants,
        {% endfor %}
        coalesce(learner_reporting.learner_records, 0) as learner_records,
        coalesce(learner_reporting.learner_records_sent, 0) as learner_records_sent,
        coalesce(learner_reporting.learner_records_accepted, 0) as learner_records_accepted,
        {{ codes([
            "case when reportable.delivery_method is null then 'delivery_method' end",
            "case when reportable.delivery_method in ('in_person', 'hybrid') and (reportable.location_city is null or reportable.location_country is null or (reportable.location_country in ('US', 'USA') and reportable.location_state is null)) then 'location' end",
            "case when reportable.description is null then 'description' end",
            "case when reportable.cme_credits_designated is null and " ~ ("false" if var("accreditor") == "JA" else "true") ~ " then 'ama_pra_category_1_credits_designated' end",
            "case when reportable.providership is null then 'providership' end",
        ]) }} as missing_for_active,
        {{ codes([
            "case when reportable.providership = 'joint' and reportable.joint_provider_name is null then 'joint_provider_name' end",
            "case when " ~ list_length('reportable.outcome_measures') ~ " = 0 then 'outcome_measures' end",
            "case when " ~ list_length(unknown_measures) ~ " > 0 then 'outcome_measures (unknown: ' || array_to_string(" ~ unknown_measures ~ ", ', ') || ')' end",
            "case when reportable.commercial_support_answered is null then 'commercial_support' end",
            "case when reportable.commercial_support and reportable.commercial_support_monetary is null and reportable.commercial_support_in_kind is null then 'commercial_support_amounts' end",
        ]) }} as missing_for_closed
    from reportable
    inner join activity_years using (activity_id)
    left join learner_counts using (activity_id, reporting_year)
    left join learner_reporting using (activity_id, reporting_year)
),

statused as (
    select
        *,
        case
            when
                {{ list_length('missing_for_active') }} = 0
                and {{ list_length('missing_for_closed') }} = 0
                and is_period_over
                then 'Closed'
            when {{ list_length('missing_for_active') }} = 0 then 'Active'
            else 'Draft'
        end as pars_status,
        {{ list_concat('missing_for_active', 'missing_for_closed') }} as missing_fields
    from checked
),

current_records as (
    select
        '{{ body_name }}' as body,
        '{{ body_name }}|' || activity_id || '|' || reporting_year as record_key,
        cast(null as varchar) as person_id,
        activity_id,
        cast(reporting_year as bigint) as reporting_year,  -- PostgreSQL's years are integer
        accme_activity_id,
        title,
        activity_format,
        start_date,
        end_date,
        {{ format_date('start_date', '%m/%d/%Y') }} as start_date_text,
        {{ format_date('end_date', '%m/%d/%Y') }} as end_date_text,
        delivery_method,
        location_city,
        location_state,
        location_country,
        description,
        cme_credits_designated,
        providership,
        case providership when 'direct' then 'Directly provided' when 'joint' then 'Jointly provided' end
            as providership_text,
        joint_provider_name,
        outcome_measures,
        array_to_string(outcome_measures, ';') as outcome_measures_text,
        commercial_support_answered,
        case when commercial_support_answered then 'Yes' when not commercial_support_answered then 'No' end
            as commercial_support_text,
        commercial_support_monetary,
        commercial_support_in_kind,
        commercial_supporters,
        is_ipce,
        case when is_ipce then 'Yes' else 'No' end as ipce_text,
        moc_boards,
        coalesce(moc_credits, {{ empty_list() }}) as moc_credits,
        array_to_string(moc_boards, ';') as moc_boards_text,
        array_to_string(coalesce(moc_credits, {{ empty_list() }}), ';') as moc_credits_text,
        physician_learners,
        other_learners,
        {% for p in ja_professions %}
            {{ p }}_participants,
        {% endfor %}
        case when pars_status = 'Closed' then physician_learners end as record_physician_learners,
        case when pars_status = 'Closed' then other_learners end as record_other_learners,
        {% for p in ja_professions %}
            case when pars_status = 'Closed' then {{ p }}_participants end as record_{{ p }}_participants,
        {% endfor %}
        pars_physician_learners,
        pars_other_learners,
        learner_records,
        learner_records_sent,
        learner_records_accepted,
        pars_status,
        'Closed' as required_status,
        case pars_status when 'Draft' then 'Active' when 'Active' then 'Closed' end as next_status,
        case pars_status
            when 'Draft' then missing_for_active when 'Active' then missing_for_closed
            else {{ empty_text_list() }}
        end as missing_for_next_status,
        missing_fields,
        is_period_over,
        period_ends_on,
        due_on,
        due_on as window_closes_on,
        {{ codes([
            "case when " ~ as_of_date() ~ " > due_on then 'WINDOW_CLOSED' end",
            unsupported_character(['activity_id', 'accme_activity_id', 'title', 'location_city',
                'location_state', 'location_country', 'description', 'joint_provider_name']),
        ]) }} as error_codes
    from statused
),

hashed as (
    select
        *,
        {{ record_hash(payload_columns) }} as record_hash,
        {{ record_hash(payload_columns) }} as content_hash
    from current_records
),

with_state as (
    {{ add_records_with_state('hashed', 'tracked', one_live_version=false) }}
),

{# The learner counts in the version live at PARS, for the mismatch check. #}
live_counts as (
    select
        record_key,
        {{ arg_max(try_cast_integer(json_text('payload', 'record_physician_learners')), ['written_at']) }}
            as live_physician_learners,
        {{ arg_max(try_cast_integer(json_text('payload', 'record_other_learners')), ['written_at']) }}
            as live_other_learners
    from tracked
    where is_live
    group by record_key
),

final as (
    select
        with_state.*,
        live_counts.live_physician_learners,
        live_counts.live_other_learners
    from with_state
    left join live_counts using (record_key)
)

select * from final

{# The totals each body's batch suite reconciles (expectations/<suite>_batch.json), one
   row per body the provider reports to: computed here once, read by the gate as they
   are. A view on the marts, so the totals are always those of the records the gate
   checks. A column a body's suite does not read is null on its row. #}
{{ config(materialized='view') }}

{% set pars_activities_body = "JA_PARS_ACTIVITIES" if var("accreditor") == "JA" else "ACCME_PARS_ACTIVITIES" %}

with awards as (select * from {{ ref('fct_credit_awards') }}),
pars_records as (
    select * from {{ ref('fct_pars_records') }}
    where body = {{ pars_body() }}
),
cebroker_records as (select * from {{ ref('fct_cebroker_records') }}),
cpe_records as (select * from {{ ref('fct_cpe_monitor_records') }}),
activity_records as (
    select * from {{ ref('fct_pars_activities') }}
    where body = '{{ pars_activities_body }}'
),
people as (select * from {{ ref('dim_people') }}),
identifiers as (select * from {{ ref('int_person_identifiers_collected') }}),
profession_licenses as (select * from {{ ref('profession_licenses') }}),

{# PARS: one record per person, activity, date and board in the awards (CME-only when no board) #}
pars_awards as (
    select * from awards
    where credit_type = 'AMA_PRA_1' or is_moc
    {% if var('accreditor') == 'JA' %}or credit_type = 'IPCE'{% endif %}
),

pars_boards as (
    select count(distinct moc_board) as boards
    from pars_awards
    group by person_id, activity_id, completed_on
),

pars as (
    select
        {{ pars_body() }} as body,
        (select count(*) - count(distinct record_key || record_action) from pars_records) as duplicate_keys,
        (
            select count(*) from pars_records
            where record_action = 'Add'
        ) as add_records,
        coalesce((select sum(greatest(boards, 1)) from pars_boards), 0) as expected_records,
        coalesce((
            select sum(cme_credits) from pars_records
            where record_action = 'Add'
        ), 0)
            as cme_credits_in_records,
        coalesce((
            select sum(credits_awarded) from pars_awards
            where credit_type = 'AMA_PRA_1'
        ), 0)
            as cme_credits_awarded
),

{# CE Broker: every CE Broker award of a person licensed in a CE Broker state (setting)
   for their profession (seed) is in a record, as fct_cebroker_records joins them #}
cebroker_licensees as (
    select distinct identifiers.person_id
    from identifiers
    inner join people on identifiers.person_id = people.person_id
    inner join profession_licenses
        on
            people.profession = profession_licenses.profession
            and identifiers.license_profession = profession_licenses.license_profession
    where
        identifiers.identifier_kind = 'license'
        and identifiers.state in (
            {% for s in var('cebroker_states') %}'{{ s }}'{% if not loop.last %}, {% endif %}{% endfor %}
        )
),

cebroker_awards as (
    select * from awards
    where body = 'CE_BROKER' and person_id in (select cebroker_licensees.person_id from cebroker_licensees)
),

cebroker as (
    select
        'CE_BROKER' as body,
        (select count(*) - count(distinct record_key) from cebroker_records) as duplicate_keys,
        (
            select count(*) from cebroker_awards
            where not exists (
                select 1 from cebroker_records
                where
                    cebroker_records.person_id = cebroker_awards.person_id
                    and cebroker_records.activity_id = cebroker_awards.activity_id
                    and cebroker_records.completed_on = cebroker_awards.completed_on
            )
        )
            as uncovered_awards,
        coalesce((select bool_and(coalesce(provider_number, '') <> '') from cebroker_records), true)
            as provider_number_set
),

cpe as (
    select
        'CPE_MONITOR' as body,
        (select count(*) - count(distinct record_key) from cpe_records) as duplicate_keys,
        coalesce((select sum(contact_hours) from cpe_records), 0) as contact_hours_in_records,
        coalesce((
            select sum(credits_awarded) from awards
            where body = 'CPE_MONITOR'
        ), 0)
            as contact_hours_awarded,
        coalesce((select bool_and(coalesce(provider_number, '') <> '') from cpe_records), true)
            as provider_number_set
),

{# PARS activities: the learners in the Closed records going out equal the distinct
   people with awards behind them #}
activity_learners as (
    select
        activity_id,
        cast(extract(year from completed_on) as integer) as reporting_year,
        count(distinct person_id) as learners
    from awards
    group by activity_id, cast(extract(year from completed_on) as integer)
),

closed_going as (
    select * from activity_records
    where submission_state = 'pending' and pars_status = 'Closed'
),

activities as (
    select
        '{{ pars_activities_body }}' as body,
        (select count(*) - count(distinct record_key) from activity_records) as duplicate_keys,
        coalesce((select sum(record_physician_learners + record_other_learners) from closed_going), 0)
            as learners_in_closed_records,
        coalesce((
            select sum(activity_learners.learners) from closed_going
            inner join activity_learners
                on
                    closed_going.activity_id = activity_learners.activity_id
                    and closed_going.reporting_year = activity_learners.reporting_year
        ), 0)
            as learners_awarded
),

{% set columns = {
    'duplicate_keys': 'bigint', 'add_records': 'bigint', 'expected_records': 'bigint',
    'cme_credits_in_records': 'decimal(18, 2)', 'cme_credits_awarded': 'decimal(18, 2)',
    'uncovered_awards': 'bigint', 'contact_hours_in_records': 'decimal(18, 2)',
    'contact_hours_awarded': 'decimal(18, 2)', 'provider_number_set': 'boolean',
    'learners_in_closed_records': 'bigint', 'learners_awarded': 'bigint'} %}
{% set present = {
    'pars': ['duplicate_keys', 'add_records', 'expected_records', 'cme_credits_in_records', 'cme_credits_awarded'],
    'cebroker': ['duplicate_keys', 'uncovered_awards', 'provider_number_set'],
    'cpe': ['duplicate_keys', 'contact_hours_in_records', 'contact_hours_awarded', 'provider_number_set'],
    'activities': ['duplicate_keys', 'learners_in_closed_records', 'learners_awarded']} %}

final as (
    {% for cte in ['pars', 'cebroker', 'cpe', 'activities'] %}
        select
            cast(body as varchar) as body,
            {% for column, type in columns.items() -%}
                cast({{ column if column in present[cte] else 'null' }} as {{ type }}) as {{ column }}
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        from {{ cte }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final

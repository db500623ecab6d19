{# Every completion x candidate credit type, awarded or with its first failing reason.
   Incremental: a run recomputes only what its extract touched: completions of
   changed activities, and every completion of a person who had a new event or
   whose accounts changed (including the person they belonged to before a
   re-merge), since one completion can change another's outcome (primary
   account, ABP once per day). delete+insert on completion_key replaces all of
   a completion's rows at once.
   decided_on is history, so `--full-refresh` never rebuilds this model
   (full_refresh=false). After a change to a setting or seed the decisions read,
   the run stops until asked to recompute (var recompute_all, `cme run
   --recompute`): then every completion is re-decided, and one whose decisions
   come out the same keeps its decided_on. #}
-- depends_on: {{ ref('int_completions_unioned') }}
-- depends_on: {{ ref('int_accounts_linked') }}
-- depends_on: {{ ref('int_learners_deduplicated') }}
-- depends_on: {{ ref('int_learner_licenses_deduplicated') }}
-- depends_on: {{ ref('int_learner_board_ids_deduplicated') }}
-- depends_on: {{ ref('int_activities_deduplicated') }}
-- depends_on: {{ ref('int_activity_credits_deduplicated') }}
-- depends_on: {{ ref('int_people_resolved') }}
-- depends_on: {{ ref('int_credit_types_configured') }}
-- depends_on: {{ ref('activity_formats') }}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='completion_key',
    on_schema_change='fail',
    full_refresh=false,
) }}
{% set recompute_all = is_incremental() and var('recompute_all', false) %}

{% if is_incremental() and not recompute_all %}
with completions as (select * from {{ ref('int_completions_unioned') }}),
accounts as (select * from {{ ref('int_accounts_linked') }}),

changed_accounts as (
    select learner_id from {{ ref('int_learners_deduplicated') }} where extracted_on = {{ run_date() }}
    union
    select learner_id from {{ ref('int_learner_licenses_deduplicated') }} where extracted_on = {{ run_date() }}
    union
    select learner_id from {{ ref('int_learner_board_ids_deduplicated') }} where extracted_on = {{ run_date() }}
),

changed_activities as (
    select activity_id from {{ ref('int_activities_deduplicated') }} where extracted_on = {{ run_date() }}
    union
    select activity_id from {{ ref('int_activity_credits_deduplicated') }} where extracted_on = {{ run_date() }}
),

affected_people as (
    select person_id from accounts
    where exists (select 1 from changed_accounts where changed_accounts.learner_id = accounts.learner_id)
    union
    select person_id from {{ this }} as decided
    where exists (select 1 from changed_accounts where changed_accounts.learner_id = decided.learner_id)
    union
    select person_id from completions where extracted_on = {{ run_date() }}
),

affected as (
    select completion_key from completions where extracted_on = {{ run_date() }}
    union
    select completion_key from completions
    where exists (select 1 from changed_activities where changed_activities.activity_id = completions.activity_id)
    union
    select completion_key from completions
    where exists (select 1 from affected_people where affected_people.person_id = completions.person_id)
    union
    select completion_key from {{ this }} as decided
    where exists (select 1 from affected_people where affected_people.person_id = decided.person_id)
),

-- everyone who now holds an affected completion: their decisions are evaluated whole
-- (caps and once-a-day rules are per person), and no one else's, so a day's cost
-- follows what it touched rather than the history
people_in_scope as (
    select distinct person_id from completions
    where exists (select 1 from affected where affected.completion_key = completions.completion_key)
),

completions_in_scope as (
    select * from completions
    where exists (select 1 from people_in_scope where people_in_scope.person_id = completions.person_id)
),

evaluated as (
    {{ evaluate_credit_decisions('completions_in_scope') }}
),
{% else %}
    with evaluated as (select * from {{ ref('int_credit_decisions_evaluated') }}),
{% endif %}

{% if recompute_all and execute %}
{% set compared = adapter.get_columns_in_relation(this) | map(attribute='name') | reject('equalto', 'decided_on') | join(', ') %}
redecided as (
    select completion_key from (
        (select {{ compared }} from evaluated except select {{ compared }} from {{ this }})
        union all
        (select {{ compared }} from {{ this }} except select {{ compared }} from evaluated)
    ) as changed
),

previously_decided as (
    select completion_key, max(decided_on) as decided_on from {{ this }} group by completion_key
),
{% endif %}

final as (
    select
        evaluated.*,
        {% if recompute_all %}
        case when evaluated.completion_key in (select completion_key from redecided)
             then {{ run_date() }}
             else coalesce(previously_decided.decided_on, {{ run_date() }}) end as decided_on
        {% else %}
            {{ run_date() }} as decided_on
        {% endif %}
    from evaluated
    {% if recompute_all %}
    left join previously_decided using (completion_key)
    {% elif is_incremental() %}
    where exists (select 1 from affected where affected.completion_key = evaluated.completion_key)
    {% endif %}
)

select * from final

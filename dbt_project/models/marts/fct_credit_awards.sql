{# The awarded decisions: what a learner earned, per completion and credit type.
   Incremental: before appending, the completions decided in this run lose their
   old awards, so a revoked or re-decided completion never keeps a stale award. #}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{% if is_incremental() %}delete from {{ this }} where completion_key in (select completion_key from {{ ref('fct_credit_decisions') }} where decided_on = {{ run_date() }}){% endif %}",
) }}

with decisions as (select * from {{ ref('fct_credit_decisions') }}),

final as (
    select
        decision_id as award_id,
        completion_key,
        credit_type,
        person_id,
        learner_id,
        activity_id,
        completion_source,
        completion_id,
        completed_at,
        completed_on,
        body,
        unit,
        moc_board,
        is_moc,
        credits_awarded,
        max_credits,
        uan,
        decided_on
    from decisions
    where is_awarded
    {% if is_incremental() %}
    and decided_on = {{ run_date() }}
    {% endif %}
)

select * from final

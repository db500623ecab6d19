{# Stable person ids (rules section 2; issue 9). Bodies hold what was sent under a
   person's id, so an id, once assigned, never changes:
   - a new group of accounts gets its fresh id (md5 of its smallest learner id);
   - when groups merge, the merged person keeps the oldest id among its accounts'
     ids (first assigned, then smallest); the others are retired, not deleted,
     so the table also says which ids became one (int_person_id_aliases);
   - when a group splits, the part holding the smallest anchor keeps the id and
     the other part gets its own fresh id.
   One row per (learner account, person id it has had); is_current marks today's.
   full_refresh=false: a full refresh must never renumber people. #}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['learner_id', 'person_id'],
    on_schema_change='fail',
    full_refresh=false,
) }}

with clustered as (select * from {{ ref('int_accounts_clustered') }}),

{% if is_incremental() %}
history as (select * from {{ this }}),
{% else %}
    history as (
        select
            cast(null as varchar) as learner_id,
            cast(null as varchar) as person_id,
            cast(null as varchar) as anchor_learner_id,
            cast(null as date) as first_assigned_on,
            cast(null as boolean) as is_current,
            cast(null as date) as retired_on
        where false
    ),
{% endif %}

previous as (
    select * from history
    where is_current
),

{# the ids a group's accounts carry today, oldest first #}
candidates as (
    select
        clustered.anchor_learner_id,
        previous.person_id,
        min(previous.first_assigned_on) as first_assigned_on
    from clustered
    inner join previous using (learner_id)
    group by clustered.anchor_learner_id, previous.person_id
),

group_choice as (
    select
        anchor_learner_id,
        {{ arg_min('person_id', ['first_assigned_on', 'person_id']) }} as person_id
    from candidates
    group by anchor_learner_id
),

{# after a split two groups may claim one id: the smallest anchor keeps it #}
claims as (
    select
        anchor_learner_id,
        person_id,
        row_number() over (
            partition by person_id
            order by anchor_learner_id
        ) = 1 as keeps_id
    from group_choice
),

assigned as (
    select
        clustered.learner_id,
        case when claims.keeps_id then claims.person_id else clustered.fresh_person_id end as person_id,
        clustered.anchor_learner_id
    from clustered
    left join claims using (anchor_learner_id)
),

current_rows as (
    select
        assigned.learner_id,
        assigned.person_id,
        assigned.anchor_learner_id,
        coalesce(history.first_assigned_on, {{ run_date() }}) as first_assigned_on,
        true as is_current,
        cast(null as date) as retired_on
    from assigned
    left join history using (learner_id, person_id)
),

retired_rows as (
    select
        history.learner_id,
        history.person_id,
        history.anchor_learner_id,
        history.first_assigned_on,
        false as is_current,
        coalesce(history.retired_on, {{ run_date() }}) as retired_on
    from history
    where not exists (
        select 1 from current_rows
        where
            current_rows.learner_id = history.learner_id
            and current_rows.person_id = history.person_id
    )
),

final as (
    select * from current_rows
    union all
    select * from retired_rows
)

select * from final

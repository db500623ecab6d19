{# The compliance work queue with its history: one row per problem ever seen.
   Open while the problem is current; closed (and kept) on the run that no
   longer finds it, e.g. when a later extract fixes the cause. That history
   cannot be rebuilt from the landing, so `--full-refresh` never drops it
   (full_refresh=false): the run recomputes what is open today, as every run does. #}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='exception_id',
    on_schema_change='fail',
    full_refresh=false,
) }}

{# Text columns are cast to the target's string type: PostgreSQL otherwise mixes text and
   varchar here, and the incremental run's schema check (on_schema_change: fail) would
   see a changed type on every run. A no-op on DuckDB (varchar). #}
with current_exceptions as (select * from {{ ref('fct_compliance_exceptions_current') }}),

{% if is_incremental() %}
previous as (select * from {{ this }}),
{% endif %}

still_open as (
    select
        cast(current_exceptions.exception_id as {{ dbt.type_string() }}) as exception_id,
        cast(current_exceptions.body as {{ dbt.type_string() }}) as body,
        cast(current_exceptions.reason_code as {{ dbt.type_string() }}) as reason_code,
        cast(current_exceptions.severity as {{ dbt.type_string() }}) as severity,
        cast(current_exceptions.subject_key as {{ dbt.type_string() }}) as subject_key,
        cast(current_exceptions.person_id as {{ dbt.type_string() }}) as person_id,
        cast(current_exceptions.activity_id as {{ dbt.type_string() }}) as activity_id,
        cast(current_exceptions.record_key as {{ dbt.type_string() }}) as record_key,
        current_exceptions.due_on,
        cast(current_exceptions.detail as {{ dbt.type_string() }}) as detail,
        {% if is_incremental() %}coalesce(previous.first_seen_on, {{ run_date() }}){% else %}{{ run_date() }}{% endif %}
            as first_seen_on,
        {{ run_date() }} as last_seen_on,
        cast('open' as {{ dbt.type_string() }}) as status,
        cast(null as date) as closed_on
    from current_exceptions
    {% if is_incremental() %}left join previous using (exception_id){% endif %}
),

{% if is_incremental() %}
newly_closed as (
    select exception_id, body, reason_code, severity, subject_key, person_id, activity_id,
           record_key, due_on, detail, first_seen_on, last_seen_on,
           'closed' as status, {{ run_date() }} as closed_on
    from previous
    where status = 'open'
      and exception_id not in (select exception_id from current_exceptions)
),
{% endif %}

final as (
    select * from still_open
    {% if is_incremental() %}
    union all
    select * from newly_closed
    {% endif %}
)

select * from final

{# DuckDB divides decimals in double precision (0.3 / 0.1 = 2.9999999999999996),
   so the quotient is rounded to 6 places before floor: steps are never finer than that. #}

{# PostgreSQL divides numerics exactly, but a double operand (minutes) makes the
   quotient double, which its round(x, 6) does not take: the quotient is cast to
   numeric first. Both give the same multiple of the step. #}
{% macro floor_to_step(value, step) -%}
    {{ return(adapter.dispatch('floor_to_step', 'cme_reporting')(value, step)) }}
{%- endmacro %}

{% macro default__floor_to_step(value, step) -%}
    cast(floor(round(({{ value }}) / ({{ step }}), 6)) * ({{ step }}) as decimal(9, 2))
{%- endmacro %}

{% macro postgres__floor_to_step(value, step) -%}
    cast(floor(round(cast(({{ value }}) / ({{ step }}) as numeric), 6)) * ({{ step }}) as decimal(9, 2))
{%- endmacro %}

{% macro round_half_up_to_step(value, step) -%}
    {{ return(adapter.dispatch('round_half_up_to_step', 'cme_reporting')(value, step)) }}
{%- endmacro %}

{% macro default__round_half_up_to_step(value, step) -%}
    cast(floor(round(({{ value }}) / ({{ step }}), 6) + 0.5) * ({{ step }}) as decimal(9, 2))
{%- endmacro %}

{% macro postgres__round_half_up_to_step(value, step) -%}
    cast(floor(round(cast(({{ value }}) / ({{ step }}) as numeric), 6) + 0.5) * ({{ step }}) as decimal(9, 2))
{%- endmacro %}

{% macro local_date(ts) -%}
    cast(({{ ts }}) at time zone '{{ var("timezone") }}' as date)
{%- endmacro %}

{# The run's dates are read at run time from meta.run_clock, a one-row table the
   pipeline writes before each build (cme.dbt_runner), not passed as --vars: dbt
   discards partial parsing whenever vars change, which re-parsed the whole project
   on every daily run. Unit tests set them as vars (overrides: vars). #}
{% macro run_date() -%}
    {%- if var("run_date", none) is not none -%}
    cast('{{ var("run_date") }}' as date)
    {%- else -%}
    (select run_date from meta.run_clock)
    {%- endif -%}
{%- endmacro %}

{# What the rules' clock reads (late, window closed, disclosure findings): the run
   date, or the latest extract date loaded when a backfill runs an older date. #}
{% macro as_of_date() -%}
    {%- if var("as_of_date", none) is not none -%}
    cast('{{ var("as_of_date") }}' as date)
    {%- elif var("run_date", none) is not none -%}
    cast('{{ var("run_date") }}' as date)
    {%- else -%}
    (select as_of_date from meta.run_clock)
    {%- endif -%}
{%- endmacro %}

{# The gate's step rule: value is a whole number of step (the quotient rounded to 6
   places first, as above). Both engines divide these decimals alike. #}
{% macro is_on_step(value, step) -%}
    round(({{ value }}) / ({{ step }}), 6) = floor(round(({{ value }}) / ({{ step }}), 6))
{%- endmacro %}

{# DuckDB divides decimals in double precision (0.3 / 0.1 = 2.9999999999999996),
   so the quotient is rounded to 6 places before floor: steps are never finer than that. #}

{% macro floor_to_step(value, step) -%}
    cast(floor(round(({{ value }}) / ({{ step }}), 6)) * ({{ step }}) as decimal(9, 2))
{%- endmacro %}

{% macro round_half_up_to_step(value, step) -%}
    cast(floor(round(({{ value }}) / ({{ step }}), 6) + 0.5) * ({{ step }}) as decimal(9, 2))
{%- endmacro %}

{% macro local_date(ts) -%}
    cast(({{ ts }}) at time zone '{{ var("timezone") }}' as date)
{%- endmacro %}

{% macro run_date() -%}
    cast('{{ var("run_date") }}' as date)
{%- endmacro %}

{# What the rules' clock reads (late, window closed, disclosure findings): the run
   date, or the latest extract date loaded when a backfill runs an older date. #}
{% macro as_of_date() -%}
    cast('{{ var("as_of_date", var("run_date")) }}' as date)
{%- endmacro %}

{# NPI check digit: Luhn over 80840 + the first nine digits (same rule as cme.npi). #}
{% macro is_valid_npi(col) -%}
    {{ return(adapter.dispatch('is_valid_npi', 'cme_reporting')(col)) }}
{%- endmacro %}

{% macro default__is_valid_npi(col) -%}
    (regexp_full_match(coalesce({{ col }}, ''), '[0-9]{10}')
     and (
        24  {# the prefix 80840 contributes 24 to the Luhn sum #}
        + list_sum(list_transform(range(1, 10), lambda i:
            case when i % 2 = 1
                 then (cast(substr({{ col }}, i, 1) as integer) * 2) // 10
                      + (cast(substr({{ col }}, i, 1) as integer) * 2) % 10
                 else cast(substr({{ col }}, i, 1) as integer) end))
        + cast(substr({{ col }}, 10, 1) as integer)
     ) % 10 = 0)
{%- endmacro %}


{# The same sum unrolled: PostgreSQL has no list lambdas; the case keeps the digit casts
   away from a value that is not ten digits (PostgreSQL does not order `and`). #}
{% macro postgres__is_valid_npi(col) -%}
    (case when coalesce({{ col }}, '') ~ '^[0-9]{10}$'
          then (24
                {%- for i in range(1, 10) %}
                {%- set d = 'cast(substr(' ~ col ~ ', ' ~ i ~ ', 1) as integer)' %}
                + {% if i % 2 == 1 %}(({{ d }} * 2) / 10 + ({{ d }} * 2) % 10){% else %}{{ d }}{% endif %}
                {%- endfor %}
                + cast(substr({{ col }}, 10, 1) as integer)) % 10 = 0
          else false end)
{%- endmacro %}

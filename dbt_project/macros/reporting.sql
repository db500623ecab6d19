{# Helpers shared by the per-body reporting marts. #}

{% macro pars_body() -%}
    '{{ "JA_PARS" if var("accreditor") == "JA" else "ACCME_PARS" }}'
{%- endmacro %}

{# March 31 (the setting) of the year after `d`. #}
{% macro learner_year_close(d) -%}
    make_date(year({{ d }}) + 1, {{ var('pars_learner_year_close')[:2] | int }}, {{ var('pars_learner_year_close')[3:] | int }})
{%- endmacro %}

{# Non-null codes of a list of `case when ... then 'CODE' end` expressions. #}
{% macro codes(expressions) -%}
    list_filter([{{ expressions | join(', ') }}], lambda c: c is not null)
{%- endmacro %}

{# md5 over the fields a body receives: a change to any of them is a new version. #}
{% macro record_hash(columns) -%}
    md5(concat_ws('|', {% for c in columns %}coalesce(cast({{ c }} as varchar), ''){% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}

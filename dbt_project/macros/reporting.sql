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

{# The Add records of a body mart with where each stands at the body.
   `one_live_version`: the body allows no edits (CE Broker, CPE Monitor), so while
   any version of a record is live a changed version is `superseded`, never re-sent. #}
{% macro add_records_with_state(hashed, tracked, one_live_version) -%}
    select
        {{ hashed }}.*,
        'Add' as record_action,
        case when {{ tracked }}.is_live then {{ tracked }}.add_state
             {% if one_live_version %}
             when {{ hashed }}.record_key in (select record_key from {{ tracked }} where is_live)
                 then 'superseded'
             {% endif %}
             when {{ tracked }}.is_rejected then 'rejected'
             else 'pending' end as submission_state,
        {{ tracked }}.written_on,
        {{ tracked }}.message as body_message
    from {{ hashed }}
    left join {{ tracked }} using (record_key, record_hash)
{%- endmacro %}

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

{# UNSUPPORTED_CHARACTER: any of `expressions` (the text fields a body receives)
   holds a character a body's file format cannot carry: C0 controls (tab, CR and
   LF inside a value too; ingest already trims them at either end), DEL and C1
   controls, and the non-characters U+FFFE and U+FFFF that XML 1.0 forbids.
   The same class as cme.textcells.UNSUPPORTED. #}
{% macro unsupported_character(expressions) -%}
    case when regexp_matches(concat_ws('|', {% for e in expressions %}coalesce(cast({{ e }} as varchar), ''){% if not loop.last %}, {% endif %}{% endfor %}), '[\x00-\x1f\x7f-\x9f\x{FFFE}\x{FFFF}]') then 'UNSUPPORTED_CHARACTER' end
{%- endmacro %}

{# Helpers shared by the per-body reporting marts. #}

{% macro pars_body() -%}
    '{{ "JA_PARS" if var("accreditor") == "JA" else "ACCME_PARS" }}'
{%- endmacro %}

{# March 31 (the setting) of the year after `d`. #}
{% macro learner_year_close(d) -%}
    make_date({{ year_of(d) }} + 1, {{ var('pars_learner_year_close')[:2] | int }}, {{ var('pars_learner_year_close')[3:] | int }})
{%- endmacro %}

{# Non-null codes of a list of `case when ... then 'CODE' end` expressions. #}
{% macro codes(expressions) -%}
    {{ list_non_null(list_of(expressions)) }}
{%- endmacro %}

{# md5 over the fields a body receives: a change to any of them is a new version. #}
{% macro record_hash(columns) -%}
    md5(concat_ws('|', {% for c in columns %}coalesce(cast({{ c }} as varchar), ''){% if not loop.last %}, {% endif %}{% endfor %}))
{%- endmacro %}

{# The Add records of a body mart with where each stands at the body.
   A record stands where its live version stands when that version is this very
   one (same record_hash) or carries the same credit (same content_hash): a new
   spelling of a name or a merged account's identifiers is no reason to send,
   withdraw or correct what the body already holds. A rejected version goes again
   only when any of its fields changes (a corrected birth date is a change).
   `one_live_version`: the body allows no edits (CE Broker, CPE Monitor), so while
   any version of a record is live a changed version is `superseded`, never re-sent. #}
{% macro add_records_with_state(hashed, tracked, one_live_version) -%}
    select
        {{ hashed }}.*,
        'Add' as record_action,
        case when exact.is_live then exact.add_state
             when same_content.add_state is not null then same_content.add_state
             {% if one_live_version %}
             when {{ hashed }}.record_key in (select record_key from {{ tracked }} where is_live)
                 then 'superseded'
             {% endif %}
             when exact.is_rejected then 'rejected'
             else 'pending' end as submission_state,
        case when exact.is_live or same_content.add_state is null then exact.written_on
             else same_content.written_on end as written_on,
        case when exact.is_live or same_content.add_state is null then exact.message
             else same_content.message end as body_message
    from {{ hashed }}
    left join {{ tracked }} as exact
        on exact.record_key = {{ hashed }}.record_key and exact.record_hash = {{ hashed }}.record_hash
    left join (
        select record_key, content_hash,
               {{ arg_max('add_state', ['written_at']) }} as add_state,
               {{ arg_max('written_on', ['written_at']) }} as written_on,
               {{ arg_max('message', ['written_at']) }} as message
        from {{ tracked }}
        where is_live and content_hash is not null
        group by record_key, content_hash
    ) as same_content
        on same_content.record_key = {{ hashed }}.record_key
        and same_content.content_hash = {{ hashed }}.content_hash
{%- endmacro %}

{# UNSUPPORTED_CHARACTER: any of `expressions` (the text fields a body receives)
   holds a character a body's file format cannot carry: C0 controls (tab, CR and
   LF inside a value too; ingest already trims them at either end), DEL and C1
   controls, and the non-characters U+FFFE and U+FFFF that XML 1.0 forbids.
   The same class as cme.textcells.UNSUPPORTED. #}
{% macro unsupported_character(expressions) -%}
    {{ return(adapter.dispatch('unsupported_character', 'cme_reporting')(expressions)) }}
{%- endmacro %}

{% macro default__unsupported_character(expressions) -%}
    case when regexp_matches(concat_ws('|', {% for e in expressions %}coalesce(cast({{ e }} as varchar), ''){% if not loop.last %}, {% endif %}{% endfor %}), '[\x00-\x1f\x7f-\x9f\x{FFFE}\x{FFFF}]') then 'UNSUPPORTED_CHARACTER' end
{%- endmacro %}

{# PostgreSQL text never holds NUL, and writes U+FFFE/U+FFFF as \uFFFE/\uFFFF. #}
{% macro postgres__unsupported_character(expressions) -%}
    case when concat_ws('|', {% for e in expressions %}coalesce(cast({{ e }} as varchar), ''){% if not loop.last %}, {% endif %}{% endfor %}) ~ '[\x01-\x1f\x7f-\x9f\uFFFE\uFFFF]' then 'UNSUPPORTED_CHARACTER' end
{%- endmacro %}

{# A record key ('BODY|person_id|...') read with the person's current id: `aliases` is
   int_person_id_aliases left-joined on the key's person id (null when it was never retired). #}
{% macro key_with_current_person(record_key, aliases) -%}
    case
        when {{ aliases }}.person_id is null then {{ record_key }}
        else replace(
            {{ record_key }}, '|' || {{ aliases }}.alias_person_id || '|',
            '|' || {{ aliases }}.person_id || '|'
        )
    end
{%- endmacro %}

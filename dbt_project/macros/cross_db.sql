{# The SQL that differs between the two warehouse targets (DuckDB, PostgreSQL), each
   behind one adapter.dispatch macro. The duckdb__ version is the SQL the project
   has always run, so DuckDB results do not change; postgres__ gives the same values
   (docs/decisions.md, "Two warehouse targets"). Portable SQL is written inline. #}

{# The latest row per key: `select * from <relation> [where <where>]`, one row per
   `partition_by` (a list), the first in `order_by` (a string). #}
{% macro first_row_per(relation, partition_by, order_by, where=none) -%}
    {{ return(adapter.dispatch('first_row_per', 'cme_reporting')(relation, partition_by, order_by, where)) }}
{%- endmacro %}

{% macro default__first_row_per(relation, partition_by, order_by, where) -%}
    select *
    from {{ relation }}
    {% if where %}where {{ where }}{% endif %}
    qualify row_number() over (partition by {{ partition_by | join(', ') }} order by {{ order_by }}) = 1
{%- endmacro %}

{% macro postgres__first_row_per(relation, partition_by, order_by, where) -%}
    select distinct on ({{ partition_by | join(', ') }}) *
    from {{ relation }}
    {% if where %}where {{ where }}{% endif %}
    order by {{ partition_by | join(', ') }}, {{ order_by }}
{%- endmacro %}

{# arg_max / arg_min: `arg` of the row with the largest (smallest) `order_by`, rows
   with a null arg or order value skipped (DuckDB's rule). `order_by` is a list of
   expressions compared in turn; `filter` an optional condition on the rows. #}
{% macro arg_max(arg, order_by, filter=none) -%}
    {{ return(adapter.dispatch('arg_extreme', 'cme_reporting')('max', arg, order_by, filter)) }}
{%- endmacro %}

{% macro arg_min(arg, order_by, filter=none) -%}
    {{ return(adapter.dispatch('arg_extreme', 'cme_reporting')('min', arg, order_by, filter)) }}
{%- endmacro %}

{% macro default__arg_extreme(which, arg, order_by, filter) -%}
    {%- set key = order_by[0] if order_by | length == 1 else '(' ~ (order_by | join(', ')) ~ ')' -%}
    arg_{{ which }}({{ arg }}, {{ key }}){% if filter %} filter (where {{ filter }}){% endif %}
{%- endmacro %}

{% macro postgres__arg_extreme(which, arg, order_by, filter) -%}
    {%- set direction = ' desc' if which == 'max' else '' -%}
    (array_agg({{ arg }} order by {% for o in order_by %}{{ o }}{{ direction }}{% if not loop.last %}, {% endif %}{% endfor %})
        filter (where {{ arg }} is not null{% for o in order_by %} and ({{ o }}) is not null{% endfor %}{% if filter %} and ({{ filter }}){% endif %}))[1]
{%- endmacro %}

{# An ordered list aggregate: DuckDB list, PostgreSQL array. #}
{% macro list_agg(expression, order_by=none, filter=none) -%}
    {{ return(adapter.dispatch('list_agg', 'cme_reporting')(expression, order_by, filter)) }}
{%- endmacro %}

{% macro default__list_agg(expression, order_by, filter) -%}
    list({{ expression }}{% if order_by %} order by {{ order_by }}{% endif %}){% if filter %} filter (where {{ filter }}){% endif %}
{%- endmacro %}

{% macro postgres__list_agg(expression, order_by, filter) -%}
    array_agg({{ expression }}{% if order_by %} order by {{ order_by }}{% endif %}){% if filter %} filter (where {{ filter }}){% endif %}
{%- endmacro %}

{# A list literal from expressions, and the empty list of text. #}
{% macro list_of(expressions) -%}
    {{ return(adapter.dispatch('list_of', 'cme_reporting')(expressions)) }}
{%- endmacro %}

{% macro default__list_of(expressions) -%}
    [{{ expressions | join(', ') }}]
{%- endmacro %}

{% macro postgres__list_of(expressions) -%}
    array[{{ expressions | join(', ') }}]
{%- endmacro %}

{% macro empty_list() -%}
    {{ return(adapter.dispatch('empty_list', 'cme_reporting')()) }}
{%- endmacro %}

{% macro default__empty_list() -%}
    []
{%- endmacro %}

{% macro postgres__empty_list() -%}
    cast(array[] as varchar[])
{%- endmacro %}

{% macro empty_text_list() -%}
    {{ return(adapter.dispatch('empty_text_list', 'cme_reporting')()) }}
{%- endmacro %}

{% macro default__empty_text_list() -%}
    cast([] as varchar[])
{%- endmacro %}

{% macro postgres__empty_text_list() -%}
    cast(array[] as varchar[])
{%- endmacro %}

{# Number of entries of a list. #}
{% macro list_length(list) -%}
    {{ return(adapter.dispatch('list_length', 'cme_reporting')(list)) }}
{%- endmacro %}

{% macro default__list_length(list) -%}
    len({{ list }})
{%- endmacro %}

{% macro postgres__list_length(list) -%}
    cardinality({{ list }})
{%- endmacro %}

{# Two lists end to end. #}
{% macro list_concat(a, b) -%}
    {{ return(adapter.dispatch('list_concat', 'cme_reporting')(a, b)) }}
{%- endmacro %}

{% macro default__list_concat(a, b) -%}
    list_concat({{ a }}, {{ b }})
{%- endmacro %}

{% macro postgres__list_concat(a, b) -%}
    ({{ a }} || {{ b }})
{%- endmacro %}

{# A list's entries not in `values` (order kept). #}
{% macro list_without(list, values) -%}
    {{ return(adapter.dispatch('list_without', 'cme_reporting')(list, values)) }}
{%- endmacro %}

{% macro default__list_without(list, values) -%}
    list_filter({{ list }}, lambda m: m not in ({{ values | join(', ') }}))
{%- endmacro %}

{% macro postgres__list_without(list, values) -%}
    array(select m from unnest({{ list }}) with ordinality as entries(m, position)
          where m not in ({{ values | join(', ') }}) order by position)
{%- endmacro %}

{# The non-null entries of a list (order kept). #}
{% macro list_non_null(list_expression) -%}
    {{ return(adapter.dispatch('list_non_null', 'cme_reporting')(list_expression)) }}
{%- endmacro %}

{% macro default__list_non_null(list_expression) -%}
    list_filter({{ list_expression }}, lambda c: c is not null)
{%- endmacro %}

{% macro postgres__list_non_null(list_expression) -%}
    array_remove({{ list_expression }}, null)
{%- endmacro %}

{# A text split on `separator` into a list. #}
{% macro split_to_list(text, separator) -%}
    {{ return(adapter.dispatch('split_to_list', 'cme_reporting')(text, separator)) }}
{%- endmacro %}

{% macro default__split_to_list(text, separator) -%}
    string_split({{ text }}, '{{ separator }}')
{%- endmacro %}

{% macro postgres__split_to_list(text, separator) -%}
    string_to_array({{ text }}, '{{ separator }}')
{%- endmacro %}

{# Whether `value` is one of the `separator`-separated entries of `text`. #}
{% macro split_contains(text, separator, value) -%}
    {{ return(adapter.dispatch('split_contains', 'cme_reporting')(text, separator, value)) }}
{%- endmacro %}

{% macro default__split_contains(text, separator, value) -%}
    list_contains(string_split({{ text }}, '{{ separator }}'), {{ value }})
{%- endmacro %}

{% macro postgres__split_contains(text, separator, value) -%}
    ({{ value }} = any(string_to_array({{ text }}, '{{ separator }}')))
{%- endmacro %}

{# The distinct, trimmed, lower-cased, non-blank entries of a `separator`-separated
   text, sorted. #}
{% macro split_distinct_sorted(text, separator) -%}
    {{ return(adapter.dispatch('split_distinct_sorted', 'cme_reporting')(text, separator)) }}
{%- endmacro %}

{% macro default__split_distinct_sorted(text, separator) -%}
    list_sort(list_distinct(list_filter(
            list_transform(string_split({{ text }}, '{{ separator }}'), lambda m: lower(trim(m))),
            lambda m: m <> '')))
{%- endmacro %}

{% macro postgres__split_distinct_sorted(text, separator) -%}
    array(select distinct lower(trim(m)) from unnest(string_to_array({{ text }}, '{{ separator }}')) as entries(m)
          where lower(trim(m)) <> '' order by 1)
{%- endmacro %}

{# A set-returning range of integers lo..hi, one row each (in a select list). #}
{% macro unnest_range(lo, hi) -%}
    {{ return(adapter.dispatch('unnest_range', 'cme_reporting')(lo, hi)) }}
{%- endmacro %}

{% macro default__unnest_range(lo, hi) -%}
    unnest(generate_series({{ lo }}, {{ hi }}))
{%- endmacro %}

{% macro postgres__unnest_range(lo, hi) -%}
    generate_series({{ lo }}, {{ hi }})
{%- endmacro %}

{# A record of named fields (the audit trail's source rows), a list of one, and the
   list aggregate of such records: DuckDB structs, PostgreSQL jsonb. #}
{% macro record_of(fields) -%}
    {{ return(adapter.dispatch('record_of', 'cme_reporting')(fields)) }}
{%- endmacro %}

{% macro default__record_of(fields) -%}
    { {%- for name, value in fields.items() %}'{{ name }}': {{ value }}{% if not loop.last %}, {% endif %}{% endfor -%} }
{%- endmacro %}

{% macro postgres__record_of(fields) -%}
    jsonb_build_object({%- for name, value in fields.items() %}'{{ name }}', {{ value }}{% if not loop.last %}, {% endif %}{% endfor -%})
{%- endmacro %}

{% macro record_list(records) -%}
    {{ return(adapter.dispatch('record_list', 'cme_reporting')(records)) }}
{%- endmacro %}

{% macro default__record_list(records) -%}
    [{{ records | join(', ') }}]
{%- endmacro %}

{% macro postgres__record_list(records) -%}
    jsonb_build_array({{ records | join(', ') }})
{%- endmacro %}

{% macro record_list_concat(a, b) -%}
    ({{ a }}) || ({{ b }})
{%- endmacro %}

{% macro record_list_agg(record, order_by) -%}
    {{ return(adapter.dispatch('record_list_agg', 'cme_reporting')(record, order_by)) }}
{%- endmacro %}

{% macro default__record_list_agg(record, order_by) -%}
    list({{ record }} order by {{ order_by }})
{%- endmacro %}

{% macro postgres__record_list_agg(record, order_by) -%}
    jsonb_agg({{ record }} order by {{ order_by }})
{%- endmacro %}

{# A date as text: `format` is a strftime pattern; the ones used are mapped for
   PostgreSQL's to_char. #}
{% macro format_date(d, format) -%}
    {{ return(adapter.dispatch('format_date', 'cme_reporting')(d, format)) }}
{%- endmacro %}

{% macro default__format_date(d, format) -%}
    strftime({{ d }}, '{{ format }}')
{%- endmacro %}

{% macro postgres__format_date(d, format) -%}
    to_char({{ d }}, '{{ format | replace('%m', 'MM') | replace('%d', 'DD') | replace('%Y', 'YYYY') }}')
{%- endmacro %}

{# The calendar year of a date, as an integer. #}
{% macro year_of(d) -%}
    {{ return(adapter.dispatch('year_of', 'cme_reporting')(d)) }}
{%- endmacro %}

{% macro default__year_of(d) -%}
    year({{ d }})
{%- endmacro %}

{% macro postgres__year_of(d) -%}
    cast(extract(year from {{ d }}) as integer)
{%- endmacro %}

{# Seconds between two timestamps (whole-second boundaries crossed, DuckDB's date_diff). #}
{% macro seconds_between(start, finish) -%}
    {{ return(adapter.dispatch('seconds_between', 'cme_reporting')(start, finish)) }}
{%- endmacro %}

{% macro default__seconds_between(start, finish) -%}
    date_diff('second', {{ start }}, {{ finish }})
{%- endmacro %}

{% macro postgres__seconds_between(start, finish) -%}
    cast(floor(extract(epoch from {{ finish }})) - floor(extract(epoch from {{ start }})) as bigint)
{%- endmacro %}

{# Seconds since 1970 of a date (for ordering). #}
{% macro epoch_of(d) -%}
    {{ return(adapter.dispatch('epoch_of', 'cme_reporting')(d)) }}
{%- endmacro %}

{% macro default__epoch_of(d) -%}
    epoch({{ d }})
{%- endmacro %}

{% macro postgres__epoch_of(d) -%}
    extract(epoch from {{ d }})
{%- endmacro %}

{# Whole-string and partial regular-expression matches (RE2 on DuckDB, ARE on PostgreSQL:
   the patterns used are in their common subset). #}
{% macro regex_full_match(text, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match', 'cme_reporting')(text, pattern)) }}
{%- endmacro %}

{% macro default__regex_full_match(text, pattern) -%}
    regexp_full_match({{ text }}, {{ pattern }})
{%- endmacro %}

{% macro postgres__regex_full_match(text, pattern) -%}
    ({{ text }} ~ ('^(?:' || {{ pattern }} || ')$'))
{%- endmacro %}

{# A text field of a JSON document held as text or JSON. #}
{% macro json_text(document, key) -%}
    {{ return(adapter.dispatch('json_text', 'cme_reporting')(document, key)) }}
{%- endmacro %}

{% macro default__json_text(document, key) -%}
    json_extract_string({{ document }}, '$.{{ key }}')
{%- endmacro %}

{% macro postgres__json_text(document, key) -%}
    (cast({{ document }} as jsonb) ->> '{{ key }}')
{%- endmacro %}

{# An integer from text, null when the text is not one. #}
{% macro try_cast_integer(text) -%}
    {{ return(adapter.dispatch('try_cast_integer', 'cme_reporting')(text)) }}
{%- endmacro %}

{% macro default__try_cast_integer(text) -%}
    try_cast({{ text }} as integer)
{%- endmacro %}

{% macro postgres__try_cast_integer(text) -%}
    case when trim({{ text }}) ~ '^[+-]?[0-9]{1,9}$' then cast(trim({{ text }}) as integer) end
{%- endmacro %}

{# The distinct values of a group, sorted; null when the group has none. #}
{% macro distinct_sorted_list_agg(expression, filter=none) -%}
    {{ return(adapter.dispatch('distinct_sorted_list_agg', 'cme_reporting')(expression, filter)) }}
{%- endmacro %}

{% macro default__distinct_sorted_list_agg(expression, filter) -%}
    list_sort(list_distinct(list({{ expression }}){% if filter %} filter (where {{ filter }}){% endif %}))
{%- endmacro %}

{% macro postgres__distinct_sorted_list_agg(expression, filter) -%}
    array_agg(distinct {{ expression }} order by {{ expression }}){% if filter %} filter (where {{ filter }}){% endif %}
{%- endmacro %}

{# Any one non-null value of a group (used only where the value is not exposed):
   PostgreSQL 15 has no any_value, and dbt.any_value on DuckDB is `arbitrary`, which may
   pick a null. #}
{% macro any_value_of(expression) -%}
    {{ return(adapter.dispatch('any_value_of', 'cme_reporting')(expression)) }}
{%- endmacro %}

{% macro default__any_value_of(expression) -%}
    any_value({{ expression }})
{%- endmacro %}

{% macro postgres__any_value_of(expression) -%}
    min({{ expression }})
{%- endmacro %}

{# The records of a record list (record_list, record_list_agg) as rows: one row per
   record of `list_column`, with `keep` columns of `relation` and each field of
   `fields` (name: type). DuckDB unnests its structs; PostgreSQL its jsonb array. #}
{% macro unnest_record_list(relation, keep, list_column, fields) -%}
    {{ return(adapter.dispatch('unnest_record_list', 'cme_reporting')(relation, keep, list_column, fields)) }}
{%- endmacro %}

{% macro default__unnest_record_list(relation, keep, list_column, fields) -%}
    select {% for k in keep %}unnested.{{ k }}, {% endfor %}
           {% for name, type in fields.items() %}cast(unnested.r.{{ name }} as {{ type }}) as {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
    from (select {% for k in keep %}{{ k }}, {% endfor %}unnest({{ list_column }}) as r from {{ relation }}) as unnested
{%- endmacro %}

{% macro postgres__unnest_record_list(relation, keep, list_column, fields) -%}
    select {% for k in keep %}{{ relation }}.{{ k }}, {% endfor %}
           {% for name, type in fields.items() %}cast(r ->> '{{ name }}' as {{ type }}) as {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
    from {{ relation }}
    cross join lateral jsonb_array_elements({{ relation }}.{{ list_column }}) as r
{%- endmacro %}

{# Every entry of a `separator`-separated list column is one of `values` (or the whole
   value is `wildcard`): the catalog's eligible_professions against the contract's professions. #}
{% test list_entries_accepted(model, column_name, values, separator='|', wildcard='*') %}
select {{ column_name }}, entry
from {{ model }}, unnest(string_split({{ column_name }}, '{{ separator }}')) as entries(entry)
where {{ column_name }} <> '{{ wildcard }}'
  and entry not in ({% for v in values %}'{{ v }}'{% if not loop.last %}, {% endif %}{% endfor %})
{% endtest %}

{# Every entry of a `separator`-separated list column is one of `values` (or the whole
   value is `wildcard`): the catalog's eligible_professions against the contract's professions. #}
{% test list_entries_accepted(model, column_name, values, separator='|', wildcard='*') %}
select value, entry
from (
    select {{ column_name }} as value, unnest({{ cme_reporting.split_to_list(column_name, separator) }}) as entry
    from {{ model }}
    where {{ column_name }} <> '{{ wildcard }}'
) as entries
where entry not in ({% for v in values %}'{{ v }}'{% if not loop.last %}, {% endif %}{% endfor %})
{% endtest %}

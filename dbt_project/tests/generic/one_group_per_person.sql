{# A person id names one group of accounts: no two groups share an id. #}
{% test one_group_per_person(model) %}
select person_id, count(distinct anchor_learner_id) as groups
from {{ model }}
group by person_id
having count(distinct anchor_learner_id) > 1
{% endtest %}

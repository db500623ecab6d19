{#-
  Leaner view and table materializations for DuckDB only (PostgreSQL keeps dbt's own).

  dbt's defaults build into an intermediate relation, rename the old one to a backup,
  rename the new one in, then drop the backup: five statements and their events per
  model, written for warehouses whose DDL is not transactional. DuckDB's DDL is: the old
  relation is dropped and the new one created in one transaction, so a failed build
  leaves the old relation as it was, and readers never see a half-built one.
  Contracts, hooks, grants and persisted docs behave as in dbt's own materializations.
-#}

{#- The whole replacement for a relation of `kind` ('view' or 'table'); the drop runs in
    the build's own transaction (auto_begin), so the create commits with it or a failure
    rolls both back. -#}
{% macro cme_drop_and_create(kind) %}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type=kind) -%}
  {%- set grant_config = config.get('grants') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% if existing_relation is not none %}
    {% call statement('drop_existing') -%}
      drop {{ existing_relation.type }} if exists {{ existing_relation }}
    {%- endcall %}
  {% endif %}
  {% call statement('main') -%}
    {% if kind == 'view' -%}
      {{ get_create_view_as_sql(target_relation, sql) }}
    {%- else -%}
      {{ create_table_as(False, target_relation, sql) }}
    {%- endif %}
  {%- endcall %}

  {% if kind == 'table' %}
    {% do create_indexes(target_relation) %}
  {% endif %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
  {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {{ return({'relations': [target_relation]}) }}
{% endmacro %}

{% materialization view, adapter='duckdb' %}
  {{ return(cme_drop_and_create('view')) }}
{% endmaterialization %}

{% materialization table, adapter='duckdb' %}
  {{ return(cme_drop_and_create('table')) }}
{% endmaterialization %}

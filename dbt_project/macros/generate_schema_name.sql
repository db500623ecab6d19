{# Use the configured schema name as is (staging, intermediate, reference);
   marts stay in the default schema so analysts can `select * from fct_credit_awards`. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}

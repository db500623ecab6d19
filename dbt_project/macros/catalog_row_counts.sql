{# `cme docs` (dbt docs generate): dbt-duckdb's catalog has columns but no sizes. These
   override two of its catalog macros (same names, the root project wins) to add each
   table's row count as a catalog stat, so the docs show how big every mart is. DuckDB
   keeps the count in its storage metadata (duckdb_tables().estimated_size: exact for
   tables written by dbt's create-as and by inserts; deleted rows are subtracted only
   after a checkpoint, which every connection close of the pipeline's writers makes).
   Views have none. PostgreSQL's catalog is dbt-postgres's own (no sizes). #}
{% macro duckdb__get_catalog_tables_sql(information_schema) -%}
    select *
    from (
        select
            t.database_name as table_database,
            t.schema_name as table_schema,
            t.table_name as table_name,
            'BASE TABLE' as table_type,
            t.comment as table_comment,
            t.estimated_size as row_count
        from duckdb_tables() t
        where upper(t.database_name) = upper('{{ information_schema.database }}')

        union all

        select
            v.database_name as table_database,
            v.schema_name as table_schema,
            v.view_name as table_name,
            'VIEW' as table_type,
            v.comment as table_comment,
            null as row_count
        from duckdb_views() v
        where upper(v.database_name) = upper('{{ information_schema.database }}')
    ) catalog_tables
{%- endmacro %}

{% macro duckdb__get_catalog_results_sql() -%}
    select
        tables.table_database,
        tables.table_schema,
        tables.table_name,
        tables.table_type,
        tables.table_comment,
        columns.column_name,
        columns.column_index,
        columns.column_type,
        columns.column_comment,
        null as table_owner,
        'Row count' as "stats:row_count:label",
        tables.row_count as "stats:row_count:value",
        tables.row_count is not null as "stats:row_count:include",
        'Rows in the table when the docs were generated' as "stats:row_count:description"
    from tables
    join columns using (table_database, table_schema, table_name)
    order by table_schema, table_name, column_index
{%- endmacro %}

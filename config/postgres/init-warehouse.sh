#!/bin/bash
# Runs once, when the postgres service first creates its data volume
# (/docker-entrypoint-initdb.d). Creates the warehouse database `cme` beside Airflow's
# own, owned by the role the pipeline writes as (`cme`), and a login role for analysts
# (`cme_reader`) that can read every table the pipeline creates, now or later, and write
# nothing. Passwords come from .env; nothing is stored in the repository.
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v writer_password="$CME_WAREHOUSE_PASSWORD" -v reader_password="$CME_READER_PASSWORD" <<'SQL'
create role cme login password :'writer_password';
create role cme_reader login password :'reader_password';
create database cme owner cme;
SQL

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname cme <<'SQL'
revoke create on schema public from public;
grant connect on database cme to cme_reader;
-- the pipeline creates its schemas (raw, ledger, main, ...) as it runs: grant ahead
alter default privileges for role cme grant usage on schemas to cme_reader;
alter default privileges for role cme grant select on tables to cme_reader;
SQL

# The two commands in the README. Both create .venv from the pinned
# requirements on first use; nothing else needs installing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := demo

.PHONY: demo test check lint lint-changed sql-fix clean

# The dashboard's browser test drives Debian's Chromium (Playwright's own browser
# download cannot reach its servers here). CI runs as root on a Debian machine.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)

# The production-mode and two-warehouse tests start a throwaway PostgreSQL 15 server
# (tests/pg.py); CI's Debian image may not have the server binaries.
PG_INITDB := /usr/lib/postgresql/15/bin/initdb
$(PG_INITDB):
	apt-get install -y -q postgresql-15 || (apt-get update -q && apt-get install -y -q postgresql-15)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==24.3.1
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

## make demo: generate three days of sample extracts and run the real DAG on each
demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/cme generate --out $(DEMO)/landing --days 3 --learners 300 --seed 7
	$(BIN)/cme run --landing $(DEMO)/landing --out $(DEMO)/out --from 2026-11-16 --to 2026-11-18
	$(BIN)/cme certificates --all --out $(DEMO)/out
	$(BIN)/cme transcript --all --out $(DEMO)/out
	@echo
	@echo "Warehouse: $(DEMO)/out/warehouse.duckdb   Run summaries: $(DEMO)/out/reports/"
	@echo "Certificates: $(DEMO)/out/certificates/   Transcripts: $(DEMO)/out/transcripts/"

## make test: the linters (make lint), then the whole suite (unit, dbt unit tests, DAG
## import, end to end through Airflow, PostgreSQL, the dashboard in headless Chromium)
# CI runs this, so a lint finding fails CI as a test would.
# Two workers (the machine has two cores); tests/conftest.py schedules each test file on
# one worker (its module fixtures run once), every file using the shared 3-day run on
# the same worker, and the longest first.
test: lint $(CHROMIUM) $(PG_INITDB)
	$(BIN)/python -m pytest -n 2

## make check (contributors, before a commit): ruff, SQLFluff over the SQL files changed since
## the last commit (make lint-changed), then the fast tests: every test not marked slow
## (tests/conftest.py lists the slow files), without the real Airflow runs, the benchmark and
## the long scenarios that `make test` adds. `make test` (CI) lints every SQL file.
check: lint-changed
	$(BIN)/python -m pytest -n 2 -m "not slow"

## make lint: ruff over the Python, SQLFluff over every model, singular test and
## analysis of the dbt project (config in pyproject.toml and .sqlfluff). SQLFluff's
## dbt templater compiles each file with dbt against an in-memory DuckDB (the `lint`
## target of dbt_project/profiles.yml); macros are not nodes and it skips them.
SQLFLUFF       := $(BIN)/sqlfluff
# absolute: the dbt templater changes directory, and `fix` with two processes then
# writes to a relative path that does not exist (dbt_project/dbt_project/...)
SQLFLUFF_PATHS := $(CURDIR)/dbt_project
SQLFLUFF_ARGS  := --processes 2
lint: $(STAMP)
	$(BIN)/ruff check plugins dags tests
	$(SQLFLUFF) lint $(SQLFLUFF_ARGS) $(SQLFLUFF_PATHS)

# SQLFluff over the whole project takes about a minute (the dbt templater compiles every
# model); before a commit only the models and tests changed since HEAD, or new, need it.
CHANGED_SQL = $(abspath $(filter %.sql,$(shell git diff --name-only --diff-filter=d HEAD -- dbt_project/models dbt_project/tests; \
	git ls-files --others --exclude-standard -- dbt_project/models dbt_project/tests)))
lint-changed: $(STAMP)
	$(BIN)/ruff check plugins dags tests
	$(if $(strip $(CHANGED_SQL)),$(SQLFLUFF) lint $(SQLFLUFF_ARGS) $(CHANGED_SQL),@echo "SQLFluff: no SQL changed since HEAD (make lint checks all of it)")

## make sql-fix: let SQLFluff rewrite what it can (layout, case); `make lint` shows the rest
sql-fix: $(STAMP)
	$(SQLFLUFF) fix $(SQLFLUFF_ARGS) $(SQLFLUFF_PATHS)

clean:
	rm -rf $(DEMO) $(VENV) .pytest_cache

"""docker-compose.yml, Dockerfile and .env.example checked against the repository.

No Docker engine runs here, so instead of starting the stack these tests read the
files and check what would make it fail to start or fail to run a task: commands
Airflow or `cme` do not know, host paths or COPY sources that do not exist, required
variables .env.example does not list, Airflow services without the execution API URL
or the shared JWT secret, and services that start before the database is migrated.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"

# Commands that come from providers the apache/airflow image ships but this
# virtualenv does not install (celery: the Celery executor; fab: the auth manager).
PROVIDER_COMMANDS = {("celery", "worker"), ("users", "create")}
# What cme.PROJECT_DIR must hold at run time (dbt_runner, gates, settings, the DAG).
RUNTIME_PATHS = ["dags", "plugins", "dbt_project", "expectations", "config", "pyproject.toml",
                 "requirements.txt"]
REQUIRED_VAR = re.compile(r"(?<!\$)\$\{(\w+):\?[^}]*\}")
DEFAULT_VAR = re.compile(r"(?<!\$)\$\{(\w+)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_of(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def resolve(value: str, env: dict) -> str:
    """Compose's `${VAR:-default}` interpolation, enough for these files."""
    return DEFAULT_VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def invocations(service: dict) -> list[list[str]]:
    """The argv lists a service runs. The project image keeps Airflow's entrypoint,
    which runs its command as `airflow <command>`."""
    entrypoint, command = service.get("entrypoint"), service.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    if entrypoint in (["/bin/bash", "-c"], ["bash", "-c"]):
        script = command[0].replace("$$", "$")
        return [shlex.split(part) for part in script.split("&&")]
    if entrypoint is not None:
        return [list(entrypoint) + list(command or [])]
    if "build" in service and command:
        return [["airflow", *command]]
    return []


def airflow_services(services: dict) -> dict:
    return {name: s for name, s in services.items()
            if any(argv[0] == "airflow" for argv in invocations(s))}


def env_example() -> dict:
    """Variables .env.example sets, commented-out ones included (they are the documented options)."""
    pairs = re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE.read_text(), re.M)
    return dict(pairs)


# --- commands -------------------------------------------------------------------

def check_airflow(argv: list[str]) -> None:
    from airflow.cli.cli_config import core_commands

    if tuple(argv[1:3]) in PROVIDER_COMMANDS:
        return
    known = {c.name: c for c in core_commands}
    assert argv[1] in known, f"`airflow {argv[1]}` is no Airflow command"
    command = known[argv[1]]
    subcommands = {s.name: s for s in getattr(command, "subcommands", None) or []}
    if subcommands:
        assert len(argv) > 2 and argv[2] in subcommands, f"`{' '.join(argv[:3])}` is no Airflow command"
        command = subcommands[argv[2]]
    flags = {f for arg in command.args for f in arg.flags}
    unknown = [a.split("=")[0] for a in argv if a.startswith("-") and a.split("=")[0] not in flags]
    assert not unknown, f"`{' '.join(argv[:3])}` has no option {unknown}"


def check_cme(argv: list[str]) -> None:
    import typer.main

    from cme.cli import app

    command = typer.main.get_command(app)
    for word in argv[1:]:
        if word.startswith("-") or not hasattr(command, "commands"):
            break
        assert word in command.commands, f"`cme {word}` is no cme command"
        command = command.commands[word]
    opts = {o for p in command.params for o in p.opts}
    unknown = [a for a in argv if a.startswith("-") and a.split("=")[0] not in opts]
    assert not unknown, f"`{command.name}` has no option {unknown}"


def test_every_service_has_an_image_and_a_command_that_exists(services):
    assert services
    for name, service in services.items():
        assert "image" in service or "build" in service, f"{name} has neither image nor build"
        for argv in invocations(service):
            assert argv[0] in ("airflow", "cme"), f"{name} runs {argv[0]!r}"
            (check_airflow if argv[0] == "airflow" else check_cme)(argv)


def test_the_airflow_components_and_the_dashboard_are_services(services):
    commands = {tuple(argv[:2]) for s in services.values() for argv in invocations(s)}
    for wanted in [("airflow", "api-server"), ("airflow", "scheduler"), ("airflow", "dag-processor"),
                   ("airflow", "triggerer"), ("airflow", "db"), ("cme", "dashboard")]:
        assert wanted in commands, f"no service runs `{' '.join(wanted)}`"
    dashboard = next(argv for s in services.values() for argv in invocations(s) if argv[:2] == ["cme", "dashboard"])
    # inside its container it must listen beyond loopback, or its published port reaches nothing
    assert dashboard[dashboard.index("--host") + 1] == "0.0.0.0"


# --- paths ----------------------------------------------------------------------

def test_bind_mounted_host_paths_exist_and_named_volumes_are_declared(compose, services):
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes") or []:
            # defaults resolved first: `${DIR:-./data}` mounts ./data when .env leaves DIR unset
            spec = resolve(volume, {}) if isinstance(volume, str) else volume["source"]
            source = spec.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"
            else:
                assert source in declared, f"{name} uses volume {source}, not declared"


def test_dockerfile_copies_the_whole_runtime_project_from_paths_that_exist(services):
    for name, service in services.items():
        if "build" in service:
            build = service["build"]
            assert "dockerfile_inline" not in build, f"{name} builds an inline image the tests cannot check"
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            assert (ROOT / context / dockerfile).resolve() == DOCKERFILE, f"{name} builds another image"
    text = DOCKERFILE.read_text()
    copied = []
    for line in re.findall(r"^COPY\s+(.+)$", text, re.M):
        words = [w for w in line.split() if not w.startswith("--")]
        copied += words[:-1]
    for source in copied:
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
    missing = [p for p in RUNTIME_PATHS if p not in {c.rstrip("/") for c in copied}]
    assert not missing, f"the image lacks {missing}"
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert re.search(rf"^FROM apache/airflow:{re.escape(pinned)}-python3\.11$", text, re.M), \
        "the base image is not the Airflow version requirements.txt pins"


# --- variables and secrets ------------------------------------------------------

def test_every_required_variable_is_in_env_example_as_a_placeholder():
    required = set(REQUIRED_VAR.findall(COMPOSE.read_text()))
    assert {"POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_FERNET_KEY"} <= required
    example = env_example()
    for var in sorted(required):
        assert var in example, f"{var} is required by docker-compose.yml but not in .env.example"
        assert example[var] == "CHANGE-ME", f".env.example must not carry a value for {var}"


def test_every_airflow_service_can_run_tasks(services):
    api_server = next(n for n, s in services.items() if ["airflow", "api-server"] in invocations(s))
    requirements = (ROOT / "requirements.txt").read_text()
    for name, service in airflow_services(services).items():
        env = env_of(service)
        assert env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL") == f"http://{api_server}:8080/execution/", name
        for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
            assert REQUIRED_VAR.fullmatch(env.get(key, "")), f"{name}: {key} must come from a required variable"
        conn = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
        assert conn.startswith("postgresql+psycopg2://"), name
        assert re.search(r"^psycopg2-binary==", requirements, re.M), "no PostgreSQL driver in the image"
        assert env.get("AIRFLOW__CORE__DAGS_FOLDER") == "/opt/cme/dags", name
        logs = [v for v in service.get("volumes") or [] if v.split(":")[1] == "/opt/airflow/logs"]
        assert logs and not logs[0].startswith((".", "/")), f"{name} keeps its logs off the named volume"


def test_local_executor_by_default_and_celery_with_a_broker_in_its_profile(services):
    default = {n: s for n, s in services.items() if not s.get("profiles")}
    for name, service in airflow_services(default).items():
        assert resolve(env_of(service)["AIRFLOW__CORE__EXECUTOR"], {}) == "LocalExecutor", name
    celery = {n: s for n, s in services.items() if "celery" in (s.get("profiles") or [])}
    workers = [s for s in celery.values() if ["airflow", "celery", "worker"] in invocations(s)]
    assert len(workers) == 1, "the celery profile has no Celery worker"
    worker_env = env_of(workers[0])
    assert worker_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = re.match(r"redis://([\w-]+):", worker_env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker and broker.group(1) in celery, "the broker is no service of the celery profile"
    assert worker_env.get("AIRFLOW__CELERY__RESULT_BACKEND", "").startswith("db+postgresql://")
    # with the profile on, the scheduler must send tasks to Celery: .env.example shows how
    example = env_example()
    assert example.get("COMPOSE_PROFILES") == "celery"
    scheduler = next(s for s in default.values() if ["airflow", "scheduler"] in invocations(s))
    assert resolve(env_of(scheduler)["AIRFLOW__CORE__EXECUTOR"], example) == "CeleryExecutor"
    assert env_of(scheduler).get("AIRFLOW__CELERY__BROKER_URL") == worker_env["AIRFLOW__CELERY__BROKER_URL"]


def test_airflow_init_migrates_first_and_gates_the_others(services):
    init = next(n for n, s in services.items() if ["airflow", "db", "migrate"] in
                [argv[:3] for argv in invocations(s)])
    init_deps = services[init].get("depends_on") or {}
    assert isinstance(init_deps, dict), "airflow-init must wait for a healthy database"
    for db, condition in init_deps.items():
        assert condition == {"condition": "service_healthy"} and "healthcheck" in services[db]
    gated = [n for n, s in services.items() if n != init and any(argv[0] in ("airflow", "cme") for argv in invocations(s))]
    assert gated
    for name in gated:
        deps = services[name].get("depends_on") or {}
        assert isinstance(deps, dict) and deps.get(init) == {"condition": "service_completed_successfully"}, \
            f"{name} does not wait for {init}"


def test_the_warehouse_init_script_gives_analysts_read_only_access_to_what_runs_create(tmp_path):
    """config/postgres/init-warehouse.sh, run as the postgres image runs it on a fresh server:
    the pipeline's role creates its schemas and tables later; the analysts' role reads them
    and can change nothing."""
    import os
    import subprocess

    import psycopg2

    from tests import pg

    pg.USER = "postgres_admin"  # the image's POSTGRES_USER: not one of the roles the script makes
    server = pg.PostgresServer().start()
    try:
        env = {**os.environ, "POSTGRES_USER": pg.USER, "PGHOST": "127.0.0.1",
               "PGPORT": str(server.port), "CME_WAREHOUSE_PASSWORD": "w-secret",
               "CME_READER_PASSWORD": "r-secret"}
        proc = subprocess.run(["bash", str(ROOT / "config/postgres/init-warehouse.sh")], env=env,
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr

        def connect(user):
            return psycopg2.connect(host="127.0.0.1", port=server.port, user=user, dbname="cme")

        writer = connect("cme")
        writer.autocommit = True
        with writer.cursor() as cur:  # what a run does, after the script ran
            cur.execute("create schema main")
            cur.execute("create table main.fct_credit_awards (award_key text primary key)")
            cur.execute("insert into main.fct_credit_awards values ('A1')")
        reader = connect("cme_reader")
        reader.autocommit = True
        with reader.cursor() as cur:
            cur.execute("select award_key from main.fct_credit_awards")
            assert cur.fetchall() == [("A1",)]
            for statement in ("insert into main.fct_credit_awards values ('A2')",
                              "delete from main.fct_credit_awards",
                              "create table main.mine (x int)",
                              "create schema analyst_scratch"):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(statement)
        writer.close()
        reader.close()
    finally:
        pg.USER = "cme"
        server.stop()

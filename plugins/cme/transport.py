"""What HTTP delivery needs: where a body is, its credentials, and what it answered.

A body's endpoint and credentials are the Airflow connection `cme_<body>` (for
example `cme_ce_broker`): from Airflow itself when running in a task, else from
its environment form `AIRFLOW_CONN_CME_CE_BROKER=http://user:password@host:port/path`.
Nothing about them lives in the repository.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import unquote, urlparse


class TransientError(RuntimeError):
    """The body did not answer usefully (5xx, timeout, connection refused): try again."""


class DeliveryNotConfigured(RuntimeError):
    pass


@dataclass(frozen=True)
class Connection:
    url: str
    login: str
    password: str

    def __repr__(self) -> str:  # never print a password
        return f"Connection(url={self.url!r}, login={self.login!r}, password='***')"


@dataclass(frozen=True)
class Answer:
    state: str  # accepted | rejected | sent (received, decision to come)
    message: str = ""
    reference: str | None = None


def connection_id(body: str) -> str:
    return f"cme_{body.lower()}"


def resolve_connection(body: str) -> Connection:
    conn_id = connection_id(body)
    try:  # inside an Airflow task: connections from the UI, secrets backends or env
        from airflow.sdk import Connection as AirflowConnection

        found = AirflowConnection.get(conn_id)
        scheme = "https" if (found.conn_type or "").lower() in ("https",) else "http"
        port = f":{found.port}" if found.port else ""
        path = f"/{found.schema}" if found.schema else ""
        return Connection(f"{scheme}://{found.host}{port}{path}", found.login or "",
                          found.password or "")
    except Exception:  # noqa: BLE001 - outside a task, or not defined there
        pass
    uri = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not uri:
        raise DeliveryNotConfigured(
            f"{body} is set to HTTP but connection {conn_id} is not defined "
            f"(an Airflow connection, or AIRFLOW_CONN_{conn_id.upper()})")
    parsed = urlparse(uri)
    port = f":{parsed.port}" if parsed.port else ""
    return Connection(f"{parsed.scheme}://{parsed.hostname}{port}{parsed.path.rstrip('/')}",
                      unquote(parsed.username or ""), unquote(parsed.password or ""))

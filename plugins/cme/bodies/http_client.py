"""The HTTP mechanics the body clients share: timeouts, and which failures are transient."""
from __future__ import annotations

import httpx

from cme.bodies.base import Field
from cme.transport import Connection, TransientError


class HttpClient:
    def __init__(self, conn: Connection, fields: list[Field], settings, timeout: float):
        self.conn, self.fields, self.settings = conn, fields, settings
        self.http = httpx.Client(base_url=conn.url, timeout=timeout)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # timeouts, refused or dropped connections
            raise TransientError(f"{type(exc).__name__} calling {path}") from None
        if response.status_code >= 500:
            raise TransientError(f"HTTP {response.status_code} from {path}")
        if response.status_code in (401, 403):
            raise PermissionError(f"{path}: the body refused the credentials (HTTP {response.status_code})")
        return response

    def named(self, record: dict) -> dict:
        """The record under the body's field names (seed body_fields); repeated names numbered."""
        out: dict = {}
        for f in self.fields:
            name = f.name if f.name not in out else f"{f.name} {sum(k.startswith(f.name) for k in out) + 1}"
            value = record.get(f.source)
            out[name] = "" if value is None else str(value)
        return out

"""Start a `cme` server command (dashboard, portal) as a user would, on a free port."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(command: str, out: Path, *options: str, probe: str = "/", env: dict | None = None):
    """`cme COMMAND --out OUT --port P OPTIONS...`; yields its base URL once PROBE answers,
    and stops it afterwards."""
    port = free_port()
    proc = subprocess.Popen([str(BIN / "cme"), command, "--out", str(out), "--port", str(port), *options],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx.get(url + probe, timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    pytest.fail(f"cme {command} exited: {proc.stdout.read()}")
                time.sleep(0.2)
        else:
            pytest.fail(f"cme {command} did not answer within 30 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

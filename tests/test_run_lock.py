"""One command at a time on an output folder (cme.runlock), and no Airflow child left behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cme import runlock
from tests.conftest import BIN, run_cme


def _holder(out: Path) -> subprocess.Popen:
    """Another process holding OUT's lock as `cme run` does (python -m cme.runlock)."""
    proc = subprocess.Popen([sys.executable, "-m", "cme.runlock", str(out), "120"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_run_on_a_locked_folder_names_the_holder_and_exits_3(tmp_path):
    (tmp_path / "landing" / "2026-11-16").mkdir(parents=True)  # landed (empty), so only the lock stops it
    out = tmp_path / "out"
    holder = _holder(out)
    try:
        proc = run_cme("run", "--landing", tmp_path / "landing", "--out", out, "--date", "2026-11-16")
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert f"pid {holder.pid}" in proc.stderr and "started 20" in proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert not (out / "airflow").exists()  # refused before Airflow was touched
        # the commands that write the warehouse wait their turn too; a transcript as well
        for args in (("batches", "discard", "X-1"), ("transcript", "--all")):
            if args[0] == "transcript":
                (out / "warehouse.duckdb").write_bytes(b"")
            proc = run_cme(*args, "--out", out)
            assert proc.returncode == 3 and f"pid {holder.pid}" in proc.stderr, proc.stderr
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the lock with its holder: the file it left blocks nobody
    assert json.loads((out / ".cme.lock").read_text())["pid"] == holder.pid
    os.close(runlock.acquire(out, "test"))


def test_readers_share_the_lock_and_a_writer_waits_for_them(tmp_path):
    with runlock.hold(tmp_path, "cme transcript", shared=True):
        with runlock.hold(tmp_path, "cme transcript", shared=True):
            with pytest.raises(runlock.FolderBusy, match=f"pid {os.getpid()}"):
                runlock.acquire(tmp_path, "cme run")
    os.close(runlock.acquire(tmp_path, "cme run"))
    assert oct((tmp_path / ".cme.lock").stat().st_mode & 0o777) == "0o600"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow  # a real `cme run` and its Airflow child
def test_sigterm_stops_the_airflow_child_and_frees_the_folder(tmp_path):
    """A real `cme run`: once its Airflow child (cme.airflow_days) runs, SIGTERM to `cme run`
    ends both, says so in one line and exits 143; the folder is free again at once."""
    (tmp_path / "landing" / "2026-11-16").mkdir(parents=True)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CME_"))}
    proc = subprocess.Popen([str(BIN / "cme"), "run", "--landing", str(tmp_path / "landing"),
                             "--out", str(out), "--date", "2026-11-16"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline, child = time.monotonic() + 120, None
    while child is None and time.monotonic() < deadline and proc.poll() is None:
        for pid in _children(proc.pid):
            if "cme.airflow_days" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                child = pid
        time.sleep(0.2)
    assert child, f"no Airflow child seen: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}"
    time.sleep(1)  # let it get into Airflow's start-up
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr
    assert "stopped by SIGTERM" in stderr and "Traceback" not in stderr
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
    os.close(runlock.acquire(out, "test"))  # nobody holds the folder any more

"""One command at a time on an output folder: a kernel lock on OUT/.cme.lock.

`cme run` (for its whole length, Airflow child included), `cme receipts import`
and `cme batches discard` write the warehouse and take the lock exclusively;
`cme transcript` reads the warehouse and writes OUT/transcripts, so it takes it
shared (transcripts can run together, not during a run).

The lock is `flock(2)`: the kernel drops it when the holding process ends, however
it ends, so a crashed or killed run never leaves a lock behind to be cleaned up.
The file's content (pid, host, start time, command) only says who holds it; it is
never what decides. `cme run` passes the locked descriptor to its Airflow child, so
the folder stays locked until the child has ended too.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

LOCK_NAME = ".cme.lock"


class FolderBusy(RuntimeError):
    """Another cme command holds the output folder; the message names its pid and start time."""


def lock_path(out: Path) -> Path:
    return Path(out) / LOCK_NAME


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info.get("pid"):
        return "another cme command"
    if info.get("host") == socket.gethostname() and not _alive(int(info["pid"])):
        return "another cme command"  # the file names an earlier holder that has ended
    return (f"`{info.get('command', 'cme')}` (pid {info['pid']} on {info.get('host', '?')}, "
            f"started {info.get('started', '?')})")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire(out: Path, command: str, shared: bool = False) -> int:
    """Lock OUT for `command` or raise FolderBusy at once (never waits). Returns the locked
    file descriptor: the lock lasts until it is closed or the process ends (pass it to a
    child process that must keep the folder locked)."""
    from cme.warehouse import private_dir

    path = lock_path(private_dir(Path(out)))
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderBusy(f"{out} is in use by {_holder(path)}; "
                         f"try again when it has finished") from None
    # written only once locked, so a reader never sees a half-written holder (with
    # shared holders, the last one to start is named)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    return fd


@contextmanager
def hold(out: Path, command: str, shared: bool = False) -> Iterator[int]:
    """`acquire` for the length of a with-block."""
    fd = acquire(out, command, shared)
    try:
        yield fd
    finally:
        os.close(fd)  # releases the lock (a child given the descriptor keeps it until it ends)


def _hold_and_sleep(out: str, seconds: str) -> None:  # pragma: no cover - used by the tests
    """`python -m cme.runlock OUT SECONDS`: hold OUT as `cme run` would, then let go."""
    import time

    with hold(Path(out), "cme run (test holder)"):
        print("locked", flush=True)
        time.sleep(float(seconds))


if __name__ == "__main__":
    _hold_and_sleep(*sys.argv[1:3])

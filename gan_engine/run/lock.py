"""One writer per run directory: a lock file holding the owner's process id and host."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from gan_engine.errors import RunLockedError
from gan_engine.run.layout import utc_now

__all__ = ["RunLock", "live_owner"]


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read_owner(path: Path) -> dict[str, Any]:
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def live_owner(path: Path) -> dict[str, Any] | None:
    """The owner a lock file records (``pid``, ``host``, ``since``) while it may still hold it, else ``None``.

    An owner on another host cannot be checked from here and counts as live.
    """
    owner = _read_owner(path)
    if not isinstance(owner.get("pid"), int):
        return None
    local = owner.get("host") in (None, socket.gethostname())
    return owner if not local or _process_alive(owner["pid"]) else None


class RunLock:
    """An exclusive claim on a run directory by this process.

    The lock is a file holding the owner's process id and host. Acquiring it fails with
    :class:`RunLockedError` while that process is alive; a lock whose process has died
    (a killed job, a crashed kernel) is taken over.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = False

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunLockedError` naming the owner."""
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": utc_now()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(me, fh)
            self.held = True
            return
        raise RunLockedError(f"could not lock {self.path}: another process claims it at the same moment")

    def _take_over_if_stale(self) -> None:
        owner = live_owner(self.path)
        if owner is not None:
            pid, host = owner["pid"], owner.get("host")
            raise RunLockedError(
                f"the run directory {self.path.parent} is in use by process {pid} on {host} "
                f"(since {owner.get('since', '?')}). Wait for it to finish, or stop it; if that process "
                f"is gone, delete {self.path} and try again.")
        stale = _read_owner(self.path).get("pid")
        warnings.warn(f"taking over the stale lock {self.path} of process {stale}, which no longer runs",
                      RuntimeWarning, stacklevel=3)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def annotate(self, **info: Any) -> None:
        """Add ``info`` to the lock file this object holds (atomically), for whoever finds it taken."""
        if not self.held:
            return
        owner = {**_read_owner(self.path), **info}
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(owner, default=str), encoding="utf-8")
        os.replace(tmp, self.path)

    def release(self) -> None:
        """Give the lock back (only if this object holds it)."""
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.held = False

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()



"""The run directory: one folder per training run, its record, its lock and its log file.

Layout of ``<Project.output_dir>/<run name>/``::

    config.yaml          the fully resolved configuration
    run.json             status (pending | running | completed | failed | interrupted),
                         times, final metrics, checkpoints, the error on failure
    metrics.json         one record per validation
    checkpoints/         last.ckpt, the best k, periodic snapshots
    images/              image panels, when the logger keeps no images itself
    logs/training.log    a plain-text log; logger files (CSV, TensorBoard) beside it
    .lock                the process id of the run writing this directory

Only one process may write a run directory at a time: :class:`RunLock` refuses a second
one with :class:`~gan_engine.errors.RunLockedError` and takes over a lock left behind by a
process that no longer exists. All JSON files are replaced atomically, so a reader (or a
crash) never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from gan_engine._version import __version__
from gan_engine.checkpoint import read_checkpoint
from gan_engine.config.schema import Config
from gan_engine.errors import ConfigError, RunLockedError

__all__ = [
    "RUN_DIR_ENV",
    "Run",
    "RunDir",
    "RunLock",
    "RunRecord",
    "find_latest_run",
    "is_rank_zero",
    "log_to_file",
    "new_run_dir",
    "utc_now",
    "write_json",
]

#: Set by rank 0 for the processes a distributed launcher starts, so they share its directory.
RUN_DIR_ENV = "GAN_ENGINE_RUN_DIR"
STATUSES = ("pending", "running", "completed", "failed", "interrupted")
logger = logging.getLogger("gan_engine")


def utc_now() -> str:
    """The current time as an ISO 8601 string in UTC (sortable as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_rank_zero() -> bool:
    """Whether this process is the first of its job (or the only one)."""
    return all(os.environ.get(key, "0") == "0" for key in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (temporary file, then rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def record(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.ckpt"

    @property
    def images(self) -> Path:
        return self.path / "images"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def lock(self) -> Path:
        return self.path / ".lock"

    def create(self, cfg: Config) -> None:
        """Make the folders and write the resolved configuration."""
        for folder in (self.checkpoints, self.images, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
        fd, tmp = tempfile.mkstemp(prefix=".config.", suffix=".tmp", dir=self.path)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, self.config)

    def read_record(self) -> dict[str, Any]:
        """The contents of ``run.json``; empty when there is none yet."""
        try:
            data = json.loads(self.record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def new_run_dir(cfg: Config) -> RunDir:
    """A fresh directory ``<output_dir>/<run_name or name-date-time>`` that does not exist yet.

    Raises:
        ConfigError: when ``Project.run_name`` names a directory that already holds a run.
    """
    root = Path(cfg.Project.output_dir)
    if cfg.Project.run_name:
        run = RunDir(root / cfg.Project.run_name)
        if run.record.exists():
            raise ConfigError(
                f"Project.run_name: the run directory {run.path} already holds a run. Resume it "
                "(resume=True or --resume), or choose another run_name, or remove that directory.")
        return run
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{cfg.Project.name}-{stamp}"
    for attempt in range(1000):
        path = root / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            continue
        return RunDir(path)
    raise RunLockedError(f"could not create a new run directory under {root}: 1000 names taken")


def find_latest_run(cfg: Config) -> RunDir | None:
    """The most recently created run of ``Project.name`` under ``Project.output_dir`` that has a ``last.ckpt``."""
    root = Path(cfg.Project.output_dir)
    if cfg.Project.run_name:
        run = RunDir(root / cfg.Project.run_name)
        return run if run.last_checkpoint.is_file() else None
    candidates: list[tuple[str, str, RunDir]] = []
    for child in root.iterdir() if root.is_dir() else ():
        run = RunDir(child)
        record = run.read_record()
        if record.get("project") == cfg.Project.name and run.last_checkpoint.is_file():
            candidates.append((str(record.get("created", "")), child.name, run))
    return max(candidates, key=lambda item: item[:2])[2] if candidates else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


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
        try:
            owner = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            owner = {}
        pid, host = owner.get("pid"), owner.get("host")
        local = host in (None, socket.gethostname())
        if isinstance(pid, int) and (not local or _process_alive(pid)):
            raise RunLockedError(
                f"the run directory {self.path.parent} is in use by process {pid} on {host} "
                f"(since {owner.get('since', '?')}). Wait for it to finish, or stop it; if that process "
                f"is gone, delete {self.path} and try again.")
        warnings.warn(f"taking over the stale lock {self.path} of process {pid}, which no longer runs",
                      RuntimeWarning, stacklevel=3)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

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


class RunRecord:
    """The run's ``run.json``: its status, times, final metrics and error, rewritten atomically.

    A resumed run keeps its record and appends one entry to ``sessions`` per start.
    """

    def __init__(self, run: RunDir, cfg: Config, write: bool = True) -> None:
        self.run, self.write = run, write and is_rank_zero()
        self.data: dict[str, Any] = run.read_record() or {
            "name": run.name,
            "project": cfg.Project.name,
            "created": utc_now(),
            "sessions": [],
        }
        self.data.update(status="pending", error=None, ended=None)
        self.data["versions"] = _versions()
        self.save()

    def save(self) -> None:
        if self.write:
            write_json(self.run.record, self.data)

    def start(self, resumed_from: Path | None) -> None:
        """Mark the run as running; record who runs it and from which checkpoint."""
        now = utc_now()
        self.data.update(status="running", started=now, pid=os.getpid(), host=socket.gethostname())
        self.data["sessions"].append({"started": now, "resumed_from": str(resumed_from) if resumed_from else None,
                                      "command": " ".join(sys.argv)})
        self.save()

    def finish(self, status: str, *, metrics: dict[str, float] | None = None, error: BaseException | None = None,
               **fields: Any) -> None:
        """Mark the end of this session with ``status`` and the final metrics or the error."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        now = utc_now()
        self.data.update(status=status, ended=now, **fields)
        if metrics is not None:
            self.data["metrics"] = metrics
        if error is not None:
            self.data["error"] = {"type": type(error).__name__, "message": str(error)}
        if self.data["sessions"]:
            self.data["sessions"][-1].update(ended=now, status=status)
        self.save()


def _versions() -> dict[str, str]:
    import lightning
    import torch

    return {"gan_engine": __version__, "torch": torch.__version__, "lightning": lightning.__version__,
            "python": sys.version.split()[0]}


class _WarningsToLog:
    """Also write every warning shown while active to the ``gan_engine`` logger."""

    def __init__(self) -> None:
        self.original = warnings.showwarning

    def __call__(self, message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
        logger.warning("%s: %s (%s:%d)", category.__name__, message, filename, lineno)
        self.original(message, category, filename, lineno, file, line)


@contextlib.contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """Copy the ``gan_engine`` and ``lightning`` log records, and warnings, to ``path`` while active."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    targets = [logging.getLogger("gan_engine"), logging.getLogger("lightning.pytorch")]
    levels = [t.level for t in targets]
    for target in targets:
        target.addHandler(handler)
        if target.getEffectiveLevel() > logging.INFO:
            target.setLevel(logging.INFO)
    hook = _WarningsToLog()
    warnings.showwarning = hook
    try:
        yield
    finally:
        if warnings.showwarning is hook:
            warnings.showwarning = hook.original
        for target, level in zip(targets, levels):
            target.removeHandler(handler)
            target.setLevel(level)
        handler.close()


class Run:
    """An open run: its directory, its record and (on the first process of a job) its lock.

    Use :meth:`open` to choose or create the directory, then :meth:`session` around the
    training, which keeps ``run.json`` and ``logs/training.log`` up to date and releases
    the lock at the end.
    """

    def __init__(self, run_dir: RunDir, record: RunRecord, lock: RunLock | None) -> None:
        self.dir, self.record, self.lock = run_dir, record, lock

    @classmethod
    def open(cls, cfg: Config, *, ckpt_path: str | os.PathLike[str] | None = None,
             resume: bool = False) -> tuple[Run, Path | None]:
        """Choose the run directory for ``cfg`` and lock it; return it and the checkpoint to start from.

        Raises:
            ConfigError: for ``ckpt_path`` together with ``resume``, or a taken ``Project.run_name``.
            CheckpointError: when ``ckpt_path`` is not a file.
            RunLockedError: when a live process holds the directory.
        """
        if ckpt_path is not None and resume:
            raise ConfigError("give either a checkpoint to resume from (ckpt_path / --checkpoint) or resume=True "
                              "(--resume: the latest run of this config), not both")
        start = Path(ckpt_path) if ckpt_path is not None else None
        if start is not None:
            read_checkpoint(start)  # a missing or truncated file fails here, before anything is written
        shared = os.environ.get(RUN_DIR_ENV)
        if shared and not is_rank_zero():  # a process started by a distributed launcher
            run_dir = RunDir(Path(shared))
            return cls(run_dir, RunRecord(run_dir, cfg, write=False), None), start
        run_dir, start = _choose_dir(cfg, start, resume)
        if resume and start is not None:
            read_checkpoint(start)
        run_dir.path.mkdir(parents=True, exist_ok=True)
        lock = RunLock(run_dir.lock)
        lock.acquire()
        try:
            run_dir.create(cfg)
            record = RunRecord(run_dir, cfg)
        except BaseException:
            lock.release()
            raise
        return cls(run_dir, record, lock), start

    @contextlib.contextmanager
    def session(self, start_from: Path | None) -> Iterator[Run]:
        """Mark the run running; on exit mark it completed, failed or interrupted and unlock it."""
        previous = os.environ.get(RUN_DIR_ENV)
        os.environ[RUN_DIR_ENV] = str(self.dir.path.resolve())
        self.record.start(start_from)
        try:
            with log_to_file(self.dir.logs / "training.log"):
                logger.info("run directory %s%s", self.dir.path, f", resuming from {start_from}" if start_from else "")
                try:
                    yield self
                except KeyboardInterrupt as exc:
                    logger.warning("interrupted: %s", exc or "KeyboardInterrupt")
                    self.record.finish("interrupted", interruption=str(exc) or "KeyboardInterrupt")
                    raise
                except BaseException as exc:
                    logger.exception("run failed")
                    self.record.finish("failed", error=exc)
                    raise
                self.record.finish("completed")
                logger.info("run completed")
        finally:
            if previous is None:
                os.environ.pop(RUN_DIR_ENV, None)
            else:
                os.environ[RUN_DIR_ENV] = previous
            if self.lock is not None:
                self.lock.release()

    def record_result(self, metrics: dict[str, float], best: Path | None, last: Path | None, iteration: int) -> None:
        """Store the final metrics and checkpoints (the status is set when the session ends)."""
        self.record.data.update(metrics=metrics, iteration=iteration, best_checkpoint=str(best) if best else None,
                                last_checkpoint=str(last) if last else None)


def _choose_dir(cfg: Config, start: Path | None, resume: bool) -> tuple[RunDir, Path | None]:
    if start is not None:
        parent = start.resolve().parent
        if parent.name == "checkpoints" and (parent.parent / "run.json").is_file():
            return RunDir(parent.parent), start  # continue the run the checkpoint belongs to
        return new_run_dir(cfg), start
    if resume:
        latest = find_latest_run(cfg)
        if latest is not None:
            return latest, latest.last_checkpoint
        warnings.warn(f"resume: no run of {cfg.Project.name!r} with a last.ckpt under {cfg.Project.output_dir}; "
                      "starting a new run", RuntimeWarning, stacklevel=4)
    return new_run_dir(cfg), None

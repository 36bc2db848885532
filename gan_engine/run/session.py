"""An open run: its record (``run.json``), its text log and its lifecycle around the training."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gan_engine._version import __version__
from gan_engine.checkpoint import newest_checkpoint, read_checkpoint
from gan_engine.config.schema import Config
from gan_engine.errors import ConfigError, RunLockedError
from gan_engine.run.layout import (
    RUN_DIR_ENV,
    START_FROM_ENV,
    RunDir,
    check_output_dir,
    find_latest_run,
    is_rank_zero,
    new_run_dir,
    utc_now,
    write_json,
)
from gan_engine.run.lock import RunLock, live_owner

__all__ = ["STATUSES", "Run", "RunRecord", "log_to_file"]

STATUSES = ("pending", "running", "completed", "failed", "interrupted")
logger = logging.getLogger("gan_engine")


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
        _mark_killed_session(self.data)
        self.data.update(status="pending", error=None, ended=None)
        self.data["versions"] = _versions()
        self.save()

    def save(self) -> None:
        if self.write:
            write_json(self.run.record, self.data)

    def _save_at_end(self) -> None:
        try:
            self.save()
        except OSError as exc:  # a full disk must not hide the error that ended the run
            logger.error("could not update %s: %s", self.run.record, exc)

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
        self._save_at_end()


def project_lock_path(cfg: Config) -> Path:
    """The lock file of ``Project.exclusive``: ``<output_dir>/.<project name>.lock``."""
    return Path(cfg.Project.output_dir) / f".{cfg.Project.name}.lock"


def _lock_project(cfg: Config) -> RunLock:
    """Take the project's lock, or raise :class:`RunLockedError` naming the live run and its process."""
    lock = RunLock(project_lock_path(cfg))
    try:
        lock.acquire()
    except RunLockedError:
        owner = live_owner(lock.path) or {}
        raise RunLockedError(
            f"Project.exclusive: project {cfg.Project.name!r} already has a live run under "
            f"{cfg.Project.output_dir}: {owner.get('run_dir', '(starting)')}, by process {owner.get('pid', '?')} "
            f"on {owner.get('host', '?')} since {owner.get('since', '?')}. Wait for it to end "
            f"(gan-engine watch RUN_DIR), stop it, or set Project.exclusive: false.") from None
    return lock


def _mark_killed_session(data: dict[str, Any]) -> None:
    """Record that the previous session ended without a status (SIGKILL, OOM killer, power cut).

    Only the holder of the run's lock reads an existing record, so a session still marked
    running belongs to a process that is gone.
    """
    sessions = data.get("sessions") or []
    if data.get("status") == "running" and sessions and sessions[-1].get("status") is None:
        sessions[-1].update(status="killed", ended=None,
                            note="the process ended without recording a status (killed, or the machine stopped)")
        logger.warning("the previous session of %s ended without a status: it was killed", data.get("name"))


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

    def __init__(self, run_dir: RunDir, record: RunRecord, lock: RunLock | None,
                 project_lock: RunLock | None = None) -> None:
        self.dir, self.record, self.lock, self.project_lock = run_dir, record, lock, project_lock

    @classmethod
    def open(cls, cfg: Config, *, ckpt_path: str | os.PathLike[str] | None = None, resume: bool = False,
             verify: Callable[[Path], None] | None = None) -> tuple[Run, Path | None]:
        """Choose the run directory for ``cfg`` and lock it; return it and the checkpoint to start from.

        Nothing is written before the checkpoint to start from is chosen and ``verify`` (e.g. a
        check that it fits the configuration) accepted it, so a refused resume leaves the run
        directory as it was.

        Raises:
            ConfigError: for ``ckpt_path`` together with ``resume``, a taken ``Project.run_name`` or
                an output folder that cannot be written.
            CheckpointError: when ``ckpt_path`` is not a readable checkpoint, or ``verify`` refuses it.
            RunLockedError: when a live process holds the directory, or, with
                ``Project.exclusive``, when another run of the project is live.
        """
        if ckpt_path is not None and resume:
            raise ConfigError("give either a checkpoint to resume from (ckpt_path / --checkpoint) or resume=True "
                              "(--resume: the latest run of this config), not both")
        start = Path(ckpt_path) if ckpt_path is not None else None
        if start is not None:
            read_checkpoint(start, mmap=True)  # a missing or truncated file fails here, before anything is written
        shared = os.environ.get(RUN_DIR_ENV)
        if shared and not is_rank_zero():  # a process started by a distributed launcher
            run_dir = RunDir(Path(shared))
            if os.environ.get(START_FROM_ENV):  # restore what rank 0 restores (``resume=True`` finds it there)
                start = Path(os.environ[START_FROM_ENV])
            return cls(run_dir, RunRecord(run_dir, cfg, write=False), None), start
        existing, start = _resume_point(cfg, start, resume)
        if start is not None and verify is not None:
            verify(start)
        check_output_dir(cfg)
        project_lock = _lock_project(cfg) if cfg.Project.exclusive else None
        lock = None
        try:
            run_dir = RunDir((existing or new_run_dir(cfg)).path.resolve())
            run_dir.path.mkdir(parents=True, exist_ok=True)
            lock = RunLock(run_dir.lock)
            lock.acquire()
            if project_lock is not None:
                project_lock.annotate(run_dir=str(run_dir.path))
            run_dir.create(cfg)
            record = RunRecord(run_dir, cfg)
        except BaseException:
            for held in (lock, project_lock):
                if held is not None:
                    held.release()
            raise
        return cls(run_dir, record, lock, project_lock), start

    @contextlib.contextmanager
    def session(self, start_from: Path | None) -> Iterator[Run]:
        """Mark the run running; on exit mark it completed, failed or interrupted and unlock it."""
        previous = {key: os.environ.get(key) for key in (RUN_DIR_ENV, START_FROM_ENV)}
        os.environ[RUN_DIR_ENV] = str(self.dir.path.resolve())
        os.environ.pop(START_FROM_ENV, None)
        if start_from is not None:
            os.environ[START_FROM_ENV] = str(Path(start_from).resolve())
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
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            for held in (self.lock, self.project_lock):
                if held is not None:
                    held.release()

    def record_result(self, metrics: dict[str, float], best: Path | None, last: Path | None, iteration: int) -> None:
        """Store the final metrics and checkpoints (the status is set when the session ends)."""
        self.record.data.update(metrics=metrics, iteration=iteration, best_checkpoint=str(best) if best else None,
                                last_checkpoint=str(last) if last else None)


def _resume_point(cfg: Config, start: Path | None, resume: bool) -> tuple[RunDir | None, Path | None]:
    """The existing run to continue (``None``: a new one) and the checkpoint to start from; writes nothing."""
    if start is not None:
        parent = start.resolve().parent
        if parent.name == "checkpoints" and (parent.parent / "run.json").is_file():
            return RunDir(parent.parent), start  # continue the run the checkpoint belongs to
        return None, start
    if not resume:
        return None, None
    latest = find_latest_run(cfg)
    if latest is None:
        warnings.warn(f"resume: no run of {cfg.Project.name!r} under {cfg.Project.output_dir}; starting a new run",
                      RuntimeWarning, stacklevel=4)
        return None, None
    found = newest_checkpoint(latest.checkpoints)
    if found is None:
        warnings.warn(f"resume: {latest.path} holds no complete checkpoint (the run stopped before its first); "
                      "it starts again from iteration 0, in the same directory", RuntimeWarning, stacklevel=4)
        return latest, None
    logger.info("resuming %s from %s (iteration %d)", latest.path, found[0].name, found[1])
    return latest, found[0]

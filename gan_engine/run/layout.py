"""Where a run lives: the run directory's paths, its name, and finding the latest run."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from gan_engine.config.schema import Config
from gan_engine.errors import ConfigError, ConfigIssue, RunLockedError

__all__ = ["RUN_DIR_ENV", "START_FROM_ENV", "RunDir", "check_output_dir", "find_latest_run", "is_rank_zero",
           "new_run_dir", "utc_now", "write_json"]

#: Set by rank 0 for the processes a distributed launcher starts, so they share its directory.
RUN_DIR_ENV = "GAN_ENGINE_RUN_DIR"
#: Set by rank 0 beside :data:`RUN_DIR_ENV` when it resumes: the checkpoint every process restores.
START_FROM_ENV = "GAN_ENGINE_START_FROM"


def utc_now() -> str:
    """The current time as an ISO 8601 string in UTC (sortable as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


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
    def curves(self) -> Path:
        return self.path / "plots" / "curves.png"

    @property
    def progress(self) -> Path:
        return self.path / "progress.json"

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
    """The most recently created run of ``Project.name`` under ``Project.output_dir`` (``Project.run_name`` if set)."""
    root = Path(cfg.Project.output_dir)
    if cfg.Project.run_name:
        run = RunDir(root / cfg.Project.run_name)
        return run if run.record.is_file() else None
    candidates: list[tuple[str, str, RunDir]] = []
    for child in root.iterdir() if root.is_dir() else ():
        run = RunDir(child)
        record = run.read_record()
        if record.get("project") == cfg.Project.name:
            candidates.append((str(record.get("created", "")), child.name, run))
    return max(candidates, key=lambda item: item[:2])[2] if candidates else None


def check_output_dir(cfg: Config) -> None:
    """Make sure runs can be written under ``Project.output_dir`` (created when missing).

    Raises:
        ConfigError: naming ``Project.output_dir`` when it is a file or cannot be written.
    """
    root = Path(cfg.Project.output_dir)
    if root.exists() and not root.is_dir():
        problem = "is a file, not a folder"
    else:
        try:
            root.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=root)
            os.close(fd)
            os.unlink(probe)
            return
        except OSError as exc:
            problem = f"cannot be written ({exc.strerror or exc})"
    raise ConfigError([ConfigIssue("Project.output_dir", f"{root} {problem}; choose a folder this process can "
                                   "write, e.g. Project.output_dir=runs")])

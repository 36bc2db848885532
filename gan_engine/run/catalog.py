"""Runs as data: the runs under an output folder, and one run with its metric history.

Everything here reads what a run leaves on disk (``run.json``, ``config.yaml``,
``metrics.json``, the CSV logger's ``metrics.csv``, the lock file); nothing is written, so a
listing is safe while runs train. A run whose ``run.json`` says ``running`` but whose process
is gone (no live lock) is reported as ``killed``.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from gan_engine.errors import GanEngineError
from gan_engine.run.layout import RunDir
from gan_engine.run.lock import live_owner

__all__ = ["RunInfo", "RunView", "config_differences", "format_duration", "list_runs", "open_run", "read_json",
           "run_status"]


@dataclass(frozen=True)
class RunInfo:
    """One run, summarised from its files.

    Attributes:
        name, project: the run's name (its folder's) and its project's.
        status: ``pending``, ``running``, ``completed``, ``failed``, ``interrupted``,
            ``killed`` (recorded as running, but its process is gone) or ``unreadable``.
        iteration: the last iteration the run recorded (its last validation's while it runs).
        max_steps: ``Training.max_steps`` of its configuration.
        created, started, ended: ISO 8601 times (UTC) of the first start, of the latest
            session's start, and of the end (``None`` while it runs).
        duration_s: seconds of training over its sessions (a killed session, which recorded
            no end, counts up to its last validation).
        monitor: the metric ranking its checkpoints (``Callbacks.checkpoint.monitor``).
        best: ``{monitor: best value}`` over its validations (empty before the first).
        last_metrics: the latest value of every metric the run recorded.
        run_dir: its directory.
    """

    name: str
    project: str | None
    status: str
    iteration: int | None
    max_steps: int | None
    created: str | None
    started: str | None
    ended: str | None
    duration_s: float | None
    monitor: str | None
    best: dict[str, float]
    last_metrics: dict[str, float]
    run_dir: Path

    @property
    def progress(self) -> float | None:
        """``iteration / max_steps`` (``None`` when either is unknown)."""
        if self.iteration is None or not self.max_steps:
            return None
        return self.iteration / self.max_steps


@dataclass(frozen=True)
class RunView:
    """One run in full: its summary, record, configuration and metric history.

    Attributes:
        info: the :class:`RunInfo` summary.
        record: ``run.json`` as written (sessions, versions, error, checkpoints).
        config: ``config.yaml``, the resolved configuration the run trained with.
        history: one record per validation (``metrics.json``): ``iteration``, ``time`` and
            every ``val/...`` metric.
    """

    info: RunInfo
    record: dict[str, Any]
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return self.info.run_dir

    def training_history(self) -> list[dict[str, Any]]:
        """The training scalars the CSV logger wrote (``logs/csv/version_*/metrics.csv``), one record per row.

        Values are floats, ``step`` (Lightning's batch index) an int, and ``iteration`` the
        training iteration the row belongs to (``(step + 1) / Training.accumulate_grad_batches``);
        cells a row left empty, or still being written, are left out. Empty when the run used
        another logger.
        """
        accumulate = int((self.config.get("Training") or {}).get("accumulate_grad_batches") or 1)
        rows: list[dict[str, Any]] = []
        for path in sorted(self.run_dir.glob("logs/csv/version_*/metrics.csv")):
            with path.open(encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    record: dict[str, Any] = {}
                    for key, value in row.items():
                        if key and value not in (None, ""):
                            try:
                                record[key] = int(float(value)) if key in ("step", "epoch") else float(value)
                            except ValueError:  # a row the logger is writing at this moment
                                continue
                    if "step" in record:
                        record["iteration"] = (record["step"] + 1) // accumulate
                    rows.append(record)
        return rows

    def config_differences(self) -> dict[str, tuple[Any, Any]]:
        """``{dotted key: (default, this run's value)}`` for every setting that is not the default."""
        return config_differences(self.config)

    def plot(self, path: str | Path | None = None) -> Any:
        """The run's curves as a ``matplotlib`` figure (see :mod:`gan_engine.run.plots`), saved as PNG at ``path``."""
        from gan_engine.run.plots import plot_curves, save_figure

        figure = plot_curves([self])
        if path is not None:
            save_figure(figure, path)
        return figure

    def to_pandas(self) -> Any:
        """The validation history as a ``pandas.DataFrame`` indexed by iteration (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise GanEngineError("RunView.to_pandas needs pandas: pip install 'gan_engine[analysis]' "
                                 "(RunView.history holds the same records as plain dicts)") from exc
        frame = pd.DataFrame.from_records(self.history)
        return frame.set_index("iteration") if "iteration" in frame else frame


def list_runs(output_dir: str | Path = "runs") -> list[RunInfo]:
    """The runs directly under ``output_dir`` (``Project.output_dir``), newest first (by latest session).

    Folders without a ``run.json`` are not runs and are left out; a run whose ``run.json``
    cannot be read is listed with status ``unreadable``.

    Raises:
        GanEngineError: when ``output_dir`` is not a folder.
    """
    root = Path(output_dir)
    if not root.is_dir():
        raise GanEngineError(f"{root} is not a folder of runs (Project.output_dir); nothing to list")
    infos = [_summarise(RunDir(child))[0] for child in sorted(root.iterdir())
             if child.is_dir() and (child / "run.json").exists()]
    # the latest session's start, then the record's last write
    return sorted(infos, key=lambda i: (i.started or i.created or "", _mtime(i.run_dir / "run.json")), reverse=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def open_run(run_dir: str | Path) -> RunView:
    """One run with its record, configuration and metric history.

    Raises:
        GanEngineError: when ``run_dir`` holds no ``run.json``.
    """
    run = RunDir(Path(run_dir))
    if not run.record.is_file():
        raise GanEngineError(f"{run.path} is not a run directory (it has no run.json); "
                             "`gan-engine runs OUTPUT_DIR` lists the runs of a folder")
    info, record, config, history = _summarise(run)
    return RunView(info, record, config, history)


def config_differences(config: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (default, value)}`` where the resolved ``config`` differs from the defaults."""
    from gan_engine.config import load_config

    defaults = dict(_flatten(load_config(None).to_dict()))
    values = dict(_flatten(config))
    # an empty section on one side ("Trainer: {}") is the parent of keys on the other: not a setting
    defaults = {k: v for k, v in defaults.items() if not any(x.startswith(f"{k}.") for x in values)}
    values = {k: v for k, v in values.items() if not any(x.startswith(f"{k}.") for x in defaults)}
    changed = {k: (defaults.get(k), v) for k, v in values.items() if k not in defaults or defaults[k] != v}
    return changed | {k: (d, None) for k, d in defaults.items() if k not in values}


# -- reading ------------------------------------------------------------------------------


def _summarise(run: RunDir) -> tuple[RunInfo, dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    record = read_json(run.record)
    config = _read_yaml(run.config)
    history = read_json(run.metrics)
    history = [r for r in history if isinstance(r, dict)] if isinstance(history, list) else []
    if not isinstance(record, dict):
        info = RunInfo(run.name, None, "unreadable", None, None, None, None, None, None, None, {}, {}, run.path)
        return info, {}, config, history
    checkpoint = (config.get("Callbacks") or {}).get("checkpoint") or {}
    monitor, mode = checkpoint.get("monitor"), checkpoint.get("mode", "max")
    values = [r[monitor] for r in history if _finite(r.get(monitor))]
    best = {monitor: (max if mode == "max" else min)(values)} if monitor and values else {}
    last = {k: float(v) for k, v in (record.get("metrics") or {}).items() if _finite(v)}
    for r in history:  # the latest validation wins over the record of an older session
        last.update({k: float(v) for k, v in r.items() if k.startswith("val") and _finite(v)})
    iteration = record.get("iteration")
    if history and (iteration is None or history[-1].get("iteration", 0) > iteration):
        iteration = history[-1].get("iteration")
    info = RunInfo(
        name=run.name, project=record.get("project"), status=run_status(run, record),
        iteration=iteration, max_steps=(config.get("Training") or {}).get("max_steps"),
        created=record.get("created"), started=record.get("started"), ended=record.get("ended"),
        duration_s=_duration(record, history), monitor=monitor, best=best, last_metrics=last, run_dir=run.path)
    return info, record, config, history


def run_status(run: RunDir, record: Mapping[str, Any]) -> str:
    """The status ``record`` gives, with ``running`` read as ``killed`` when no live process holds the run."""
    status = str(record.get("status", "pending"))
    if status not in ("running", "pending"):
        return status
    if live_owner(run.lock) is not None:
        return status  # a live process (or one on another machine) holds the run
    return "killed" if status == "running" else status


def _duration(record: Mapping[str, Any], history: list[dict[str, Any]]) -> float | None:
    sessions = record.get("sessions") or []
    if not sessions:
        return None
    total = 0.0
    last_validation = max((r["time"] for r in history if _finite(r.get("time"))), default=None)
    for i, s in enumerate(sessions):
        start = _seconds(s.get("started"))
        if start is None:
            continue
        end = _seconds(s.get("ended"))
        if end is None:
            running = i == len(sessions) - 1 and record.get("status") == "running"
            end = datetime.now(timezone.utc).timestamp() if running else last_validation
            following = _seconds(sessions[i + 1].get("started")) if i + 1 < len(sessions) else None
            if end is not None and following is not None:
                end = min(end, following)
        if end is not None and end >= start:
            total += end - start
    return total


def format_duration(seconds: float) -> str:
    """``seconds`` as ``4m14s``, or ``2h05m`` from an hour on."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _seconds(stamp: Any) -> float | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or ``None`` when it is missing or not (yet) valid JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{path}.")
        else:
            yield path, value

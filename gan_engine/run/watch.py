"""Follow a run while it trains: a stream of events read from the files the run keeps current.

The run writes ``progress.json`` at its logging cadence, appends to ``metrics.json`` after each
validation, writes checkpoints into ``checkpoints/`` and keeps its status in ``run.json``
(see :mod:`gan_engine.run.catalog` for how a dead process is told from a live one).
:func:`follow` polls these files and yields one event for each change:

- ``{"event": "status", "status": ...}`` when the status changes (the first event, and the
  last once the run has ended: ``completed``, ``failed``, ``interrupted`` or ``killed``);
- ``{"event": "progress", "iteration", "max_steps", "iterations_per_s", "eta_s", "train",
  "validation", "time"}`` when ``progress.json`` changes;
- ``{"event": "validation", "iteration", "val/...": ...}`` for each new validation record;
- ``{"event": "checkpoint", "path", "time"}`` when a checkpoint file appears or is rewritten.

Reading never writes into the run, so any number of followers may watch it, from any process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gan_engine.errors import GanEngineError
from gan_engine.run.catalog import format_duration, read_json, run_status
from gan_engine.run.layout import RunDir

__all__ = ["ENDED", "describe", "follow"]

#: Statuses after which a run writes nothing more (until someone resumes it).
ENDED = ("completed", "failed", "interrupted", "killed")


def follow(run_dir: str | Path, interval: float = 1.0, wait: float = 60.0) -> Iterator[dict[str, Any]]:
    """Events of the run in ``run_dir`` (see the module docstring) until it has ended.

    Args:
        run_dir: the run's directory; it may not exist yet (a run about to start).
        interval: seconds between two looks at the files.
        wait: seconds to wait for the run's ``run.json`` to appear.

    Raises:
        GanEngineError: when no ``run.json`` appears within ``wait`` seconds.
    """
    run = RunDir(Path(run_dir))
    deadline = time.monotonic() + wait
    while not run.record.is_file():
        if time.monotonic() > deadline:
            raise GanEngineError(f"{run.path} holds no run (no run.json) after {wait:g} s; start the run, or "
                                 "pass its directory (`gan-engine runs OUTPUT_DIR` lists them)")
        time.sleep(min(interval, 0.2))
    seen = _Seen(run)
    status: str | None = None
    while True:
        record = read_json(run.record)
        # the status is read first: once it says the run ended, the files read after it are complete
        current = run_status(run, record) if isinstance(record, dict) else None
        yield from seen.new_events()
        if current is not None and current != status:
            status = current
            event: dict[str, Any] = {"event": "status", "status": status}
            if status == "failed" and isinstance(record, dict) and record.get("error"):
                event["error"] = record["error"]
            yield event
        if status in ENDED:
            return
        time.sleep(interval)


class _Seen:
    """What a follower has already reported of a run's files."""

    def __init__(self, run: RunDir) -> None:
        self.run = run
        self.progress_time: Any = None
        self.validations = 0
        self.checkpoints: dict[str, float] = {}

    def new_events(self) -> Iterator[dict[str, Any]]:
        progress = read_json(self.run.progress)
        if isinstance(progress, dict) and progress.get("time") != self.progress_time:
            self.progress_time = progress.get("time")
            yield {"event": "progress", **progress}
        history = read_json(self.run.metrics)
        if isinstance(history, list):
            yield from ({"event": "validation", **r} for r in history[self.validations:] if isinstance(r, dict))
            self.validations = max(self.validations, len(history))
        yield from self._checkpoints()

    def _checkpoints(self) -> Iterator[dict[str, Any]]:
        folder = self.run.checkpoints
        for path in sorted(folder.glob("*.ckpt")) if folder.is_dir() else ():
            try:
                stamp = path.stat().st_mtime
            except OSError:  # replaced or removed between the listing and the look
                continue
            if self.checkpoints.get(path.name) != stamp:
                self.checkpoints[path.name] = stamp
                yield {"event": "checkpoint", "path": str(path), "time": round(stamp, 3)}


def describe(event: dict[str, Any]) -> str:
    """One line of text for an event of :func:`follow`."""
    kind = event.get("event")
    if kind == "progress":
        it, total = event.get("iteration"), event.get("max_steps")
        share = f" ({100 * it / total:.1f} %)" if isinstance(it, int) and total else ""
        rate, eta = event.get("iterations_per_s"), event.get("eta_s")
        pace = f"  {rate:.2f} it/s" if rate else ""
        left = f"  ETA {format_duration(eta)}" if eta is not None else ""
        values = "  ".join(f"{k}={v:.4g}" for k, v in sorted((event.get("train") or {}).items())
                           if k.startswith("train/"))
        return f"iteration {it}/{total}{share}{pace}{left}  {values}".rstrip()
    if kind == "validation":
        values = "  ".join(f"{k}={v:.4g}" for k, v in event.items() if k.startswith("val")
                           and isinstance(v, (int, float)))
        return f"validation at iteration {event.get('iteration')}: {values}"
    if kind == "checkpoint":
        return f"checkpoint {event.get('path')}"
    if kind == "status":
        error = event.get("error")
        if isinstance(error, dict):
            error = f"{error.get('type', 'error')}: {str(error.get('message', '')).strip()}"
        error = f": {error}" if error else ""
        return f"status {event.get('status')}{error}"
    return json.dumps(event)

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

from gan_engine.run.layout import (
    RUN_DIR_ENV,
    START_FROM_ENV,
    RunDir,
    find_latest_run,
    is_rank_zero,
    new_run_dir,
    utc_now,
    write_json,
)
from gan_engine.run.lock import RunLock
from gan_engine.run.session import STATUSES, Run, RunRecord, log_to_file

__all__ = [
    "RUN_DIR_ENV",
    "START_FROM_ENV",
    "STATUSES",
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

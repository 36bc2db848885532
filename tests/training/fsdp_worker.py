"""Two-process CPU training through ``ge.fit`` on a sharding strategy, launched by test_fsdp.py.

Usage: python fsdp_worker.py OUT_DIR STRATEGY RUN_NAME [--resume] [--die-at K] [--set KEY=VALUE ...]
Trains the tiny config for 6 iterations (pretraining, then adversarial iterations with lazy R1,
clipping and EMA) as run ``RUN_NAME`` under ``OUT_DIR/runs``. ``--die-at K`` ends rank zero
abruptly (``os._exit``, as an out-of-memory kill would) when iteration K is done, and the other
ranks wait to be killed with the process group;
``--resume`` continues the run from its newest checkpoint. Each rank that finishes writes
``OUT_DIR/<RUN_NAME>-rank<R>.json`` with the iteration its fit started from, the one it ended
at, whether its networks were sharded, and its ADA adjustments. ``--set`` adds configuration
overrides.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine_helpers import TINY

import gan_engine as ge

STARTS: list[int] = []


@ge.callbacks.register("record_start")
class RecordStart(L.Callback):
    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        STARTS.append(pl_module.iteration)


ADJUSTMENTS: list[dict[str, Any]] = []


@ge.callbacks.register("record_ada")
class RecordAda(L.Callback):
    """Records every ADA adjustment of ``p``: this process's own sums and the totals it was given."""

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        augment = pl_module.d_augment
        if augment is None:
            return
        adjust = augment.adjust

        def recording(images: int, totals: Any = None) -> None:
            ADJUSTMENTS.append({"images": images, "local": augment.signs.tolist(),
                                "totals": None if totals is None else totals.tolist()})
            adjust(images, totals)

        augment.adjust = recording


@ge.callbacks.register("die_at")
class DieAt(L.Callback):
    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        if pl_module.iteration == self.iteration and pl_module.pending_micro_batches == 0:
            # Rank zero dies; the others wait here until the launcher kills the process group. A rank
            # that exited first could close its sockets while rank zero is still finishing the
            # iteration's last collective, and rank zero would then end with a traceback (status 1).
            if trainer.global_rank == 0:
                os._exit(17)
            time.sleep(600)


def main(out: Path, strategy: str, name: str, resume: bool, die_at: int | None, extra: list[str]) -> None:
    callbacks: list[dict[str, Any]] = [{"name": "record_start"}, {"name": "record_ada"}]
    if die_at is not None:
        callbacks.append({"name": "die_at", "iteration": die_at})
    overrides = {
        "Project.output_dir": str(out / "runs"), "Project.name": name, "Project.run_name": name,
        "Data.train_size": 16, "Training.max_steps": 6, "Training.pretrain_steps": 2,
        "Training.Stability.r1_gamma": 1.0, "Training.Stability.d_reg_every": 2,
        "Training.Stability.gradient_clip_val": 1.0,
        "Trainer.accelerator": "cpu", "Trainer.devices": 2, "Trainer.strategy": strategy,
        "Trainer.limit_val_batches": 1, "Trainer.num_sanity_val_steps": 0, "Trainer.enable_progress_bar": False,
        "Logging.log_images_every_n_steps": 0, "Callbacks.extra_validation": callbacks,
    }
    overrides.update({key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in extra)})
    cfg = ge.load_config({k: v for k, v in TINY.items() if k != "Training"}, overrides=overrides)
    result = ge.fit(cfg, resume=resume)
    module, trainer = result.module, result.trainer
    assert module is not None and trainer is not None
    sharded = type(next(module.generator.parameters())).__name__ == "DTensor"
    (out / f"{name}-rank{trainer.global_rank}.json").write_text(json.dumps({
        "start": STARTS[0], "iteration": module.iteration, "world_size": trainer.world_size, "sharded": sharded,
        "run_dir": str(result.run_dir), "last": str(result.last_checkpoint), "metrics": result.metrics,
        "augment_p": None if module.d_augment is None else float(module.d_augment.p), "ada": ADJUSTMENTS}))


if __name__ == "__main__":
    # a hung collective dumps every thread's stack and exits instead of waiting for the test's timeout
    faulthandler.dump_traceback_later(float(os.environ.get("GE_TEST_HANG_AFTER_S", "240")), exit=True)
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("strategy")
    parser.add_argument("name")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--die-at", type=int)
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()
    main(args.out, args.strategy, args.name, args.resume, args.die_at, args.set)

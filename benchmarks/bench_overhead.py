"""How much slower is ``ge.fit`` than a plain PyTorch loop doing the same GAN training?

Both sides train the same generator and discriminator (the schema defaults: the
quickstart's), with the same losses (L1 content + BCE adversarial), the same Adam
optimizers (fused kernels where the device has them, as the engine builds them), the same
batches (``synthetic_sr``: batch 8, 4 bands, 64×64 HR), in one of
two phases: ``adversarial`` (a discriminator step and a generator step per iteration) or
``pretraining`` (a generator step only). Features the plain loop does not have are off on
the ``fit`` side (EMA, validation, image panels); what stays on is what every run pays
for: Lightning's loop, the engine's logging (scalars every ``Logging.log_every_n_steps``
iterations), gradient-norm and health monitoring, and ``last.ckpt`` at the end.

Method: each measurement is a fresh process that runs ``--warmup`` iterations, then times
``--iterations`` more, each from the start of one iteration to the start of the next (so
data loading and framework work between steps count), and reports the median. The two
sides alternate, starting with a different one in every pair, because these machines
drift in speed for tens of seconds; the ratio is computed per pair, and the result is the
median of the pair ratios with its spread. Seeds are pinned; versions and commit recorded.

    python benchmarks/bench_overhead.py --pairs 5 --out overhead.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("adversarial", "pretraining")


# -- the two sides (each runs in its own process) ------------------------------------------


#: Network and batch sizes: the quickstart's, and a tiny one where an iteration takes milliseconds, as on a GPU
#: (there the framework's fixed cost per iteration is what a user pays).
SIZES: dict[str, dict[str, Any]] = {
    "quickstart": {"Data.batch_size": 8, "Data.hr_size": 64},
    "tiny": {"Data.batch_size": 4, "Data.hr_size": 32, "Generator.n_channels": 8, "Generator.n_blocks": 1,
             "Discriminator.base_channels": 8},
}
_SIZE = ["quickstart"]  # the worker's size, set from --size


def _settings(phase: str, total: int) -> dict[str, Any]:
    """Config overrides shared by both sides; the plain loop reads the same resolved config."""
    return {
        "Training.max_steps": total, "Training.pretrain_steps": total - 1 if phase == "pretraining" else 0,
        "Losses.adversarial.ramp.steps": 0, "Training.EMA.enabled": False,
        "Data.train_size": 256, "Data.bands": 4, **SIZES[_SIZE[0]],
    }


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_plain(phase: str, warmup: int, iterations: int) -> list[float]:
    """A hand-written loop: the same networks, losses, optimizers and batches as ``ge.fit``."""
    import torch

    import gan_engine as ge

    total = warmup + iterations + 1
    cfg = ge.load_config(None, _settings(phase, total))
    torch.manual_seed(cfg.Project.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = ge.generators.build(cfg.Generator.name, **cfg.Generator.params).to(device)
    d = ge.discriminators.build(cfg.Discriminator.name, **cfg.Discriminator.params).to(device)
    opts = [_adam(net, spec) for net, spec in ((g, cfg.Optimizers.generator), (d, cfg.Optimizers.discriminator))]
    data = ge.datamodules.build(cfg.Data.name, **cfg.Data.kwargs())
    data.setup("fit")
    weight = cfg.Losses.adversarial.weight if phase == "adversarial" else None
    stamps: list[float] = []
    while len(stamps) < total:
        for batch in data.train_dataloader():
            _sync(device)
            stamps.append(time.perf_counter())
            _plain_iteration(g, d, opts, batch["lr"].to(device), batch["hr"].to(device), weight)
            if len(stamps) >= total:
                break
    _sync(device)
    stamps.append(time.perf_counter())
    return _durations(stamps, warmup, iterations)


def _adam(net: Any, spec: Any) -> Any:
    """Adam as the engine builds it: the fused kernel where the device has one."""
    import torch

    kwargs = {"lr": spec.lr, "betas": tuple(spec.betas), "eps": spec.eps}
    try:
        return torch.optim.Adam(net.parameters(), fused=True, **kwargs)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(net.parameters(), **kwargs)


def _plain_iteration(g: Any, d: Any, opts: list[Any], lr: Any, hr: Any, weight: float | None) -> None:
    """One iteration: a discriminator step (unless pretraining), then a generator step.

    Like any careful GAN loop (and the engine), the network not being updated is frozen,
    so no gradients are computed for it.
    """
    import torch
    import torch.nn.functional as F

    opt_g, opt_d = opts
    fake = g(lr)
    if weight is not None:
        d.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        real_logits, fake_logits = d(hr), d(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        loss_d.backward()
        opt_d.step()
        d.requires_grad_(False)
    opt_g.zero_grad(set_to_none=True)
    loss_g = F.l1_loss(fake, hr)
    if weight is not None:
        logits = d(fake)
        loss_g = loss_g + weight * F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    loss_g.backward()
    opt_g.step()


def run_fit(phase: str, warmup: int, iterations: int) -> list[float]:
    """The same training through ``ge.fit``, timed by a callback registered through the public API."""
    return time_fit(_settings(phase, warmup + iterations + 1), warmup, iterations)


_STAMPS: list[float] = []  # the timer's stamps (the registered callback is the first call's class)


def time_fit(settings: dict[str, Any], warmup: int, iterations: int) -> list[float]:
    """Seconds of each timed iteration of ``ge.fit`` with ``settings`` (``Training.max_steps`` included).

    Each iteration is timed from the start of one training batch to the start of the next,
    so everything between steps counts; on CUDA the device is synchronised at each stamp.
    """
    import lightning as L
    import torch

    import gan_engine as ge

    stamps = _STAMPS
    stamps.clear()

    class IterationTimer(L.Callback):  # a registry callback, added through Callbacks.extra_validation
        def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
            _sync(pl_module.device)
            stamps.append(time.perf_counter())

        def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
            _sync(pl_module.device)
            stamps.append(time.perf_counter())

    if "bench_iteration_timer" not in ge.callbacks:
        ge.callbacks.register("bench_iteration_timer", IterationTimer)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as out:
        overrides = {**settings, "Project.output_dir": out,
                     "Callbacks.extra_validation": [{"name": "bench_iteration_timer"}],
                     "Logging.log_images_every_n_steps": 0, "Trainer.limit_val_batches": 0,
                     "Trainer.num_sanity_val_steps": 0, "Trainer.enable_progress_bar": False,
                     "Trainer.enable_model_summary": False}
        ge.fit(None, overrides=overrides)
    return _durations(stamps, warmup, iterations)


def _durations(stamps: list[float], warmup: int, iterations: int) -> list[float]:
    steps = [b - a for a, b in itertools.pairwise(stamps)]
    return steps[warmup:warmup + iterations]


# -- the driver ------------------------------------------------------------------------------


def _measure(side: str, phase: str, args: argparse.Namespace) -> float:
    """Median seconds per iteration of one side, in a fresh process."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, __file__, "--worker", side, "--phase", phase, "--warmup", str(args.warmup),
           "--iterations", str(args.iterations), "--threads", str(args.threads), "--size", args.size]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {side} worker failed:\n{done.stderr[-3000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["median_s"])


def _phase_result(phase: str, args: argparse.Namespace) -> dict[str, Any]:
    pairs = []
    for i in range(args.pairs):
        order = ("plain", "fit") if i % 2 == 0 else ("fit", "plain")
        times = {side: _measure(side, phase, args) for side in order}
        pairs.append({"first": order[0], "plain_ms": times["plain"] * 1e3, "fit_ms": times["fit"] * 1e3,
                      "ratio": times["fit"] / times["plain"]})
        print(f"{phase} pair {i + 1}/{args.pairs}: plain {pairs[-1]['plain_ms']:.1f} ms, "
              f"fit {pairs[-1]['fit_ms']:.1f} ms, ratio {pairs[-1]['ratio']:.3f}", file=sys.stderr)
    ratios = sorted(p["ratio"] for p in pairs)
    return {"ratio_median": statistics.median(ratios), "ratio_min": ratios[0], "ratio_max": ratios[-1],
            "plain_ms_median": statistics.median(p["plain_ms"] for p in pairs),
            "fit_ms_median": statistics.median(p["fit_ms"] for p in pairs), "pairs": pairs}


def _environment(args: argparse.Namespace) -> dict[str, Any]:
    import lightning
    import torch

    import gan_engine as ge

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {"gan_engine": ge.__version__, "torch": torch.__version__, "lightning": lightning.__version__,
            "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "commit": commit.stdout.strip() or None, "threads": args.threads}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--phase", choices=(*PHASES, "both"), default="both")
    p.add_argument("--pairs", type=int, default=5, help="alternating (plain, fit) pairs per phase")
    p.add_argument("--warmup", type=int, default=10, help="iterations run before timing")
    p.add_argument("--iterations", type=int, default=40, help="timed iterations per process")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads on both sides")
    p.add_argument("--size", choices=tuple(SIZES), default="quickstart", help="network and batch sizes")
    p.add_argument("--out", type=Path, help="write the JSON result here as well")
    p.add_argument("--worker", choices=("plain", "fit"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    _SIZE[0] = args.size
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        run = run_plain if args.worker == "plain" else run_fit
        durations = run(args.phase, args.warmup, args.iterations)
        print(json.dumps({"median_s": statistics.median(durations), "n": len(durations)}))
        return 0
    phases = PHASES if args.phase == "both" else (args.phase,)
    started = time.time()
    result = {"benchmark": "fit overhead vs a plain PyTorch loop", "environment": _environment(args),
              "method": {"size": args.size, "pairs": args.pairs, "warmup": args.warmup, "iterations": args.iterations,
                         "statistic": "median s/iteration per process; median of per-pair fit/plain ratios"},
              "phases": {phase: _phase_result(phase, args) for phase in phases}}
    result["wall_s"] = round(time.time() - started, 1)
    emit(result, args.out)
    return 0


def emit(result: dict[str, Any], out: Path | None) -> None:
    """Print ``result`` as JSON, and write it to ``out`` when given."""
    text = json.dumps(result, indent=2)
    if out:
        out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    raise SystemExit(main())

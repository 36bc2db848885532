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


class PlainLoop:
    """A hand-written loop: the same networks, losses, optimizers and batches as ``ge.fit``.

    :meth:`step` runs one iteration on the next batch of its own loader.
    """

    def __init__(self, phase: str, total: int) -> None:
        import torch

        import gan_engine as ge

        cfg = ge.load_config(None, _settings(phase, total))
        torch.manual_seed(cfg.Project.seed)
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.g = ge.generators.build(cfg.Generator.name, **cfg.Generator.params).to(self.device)
        self.d = ge.discriminators.build(cfg.Discriminator.name, **cfg.Discriminator.params).to(self.device)
        self.opts = [_adam(net, spec) for net, spec in ((self.g, cfg.Optimizers.generator),
                                                        (self.d, cfg.Optimizers.discriminator))]
        self.data = ge.datamodules.build(cfg.Data.name, **cfg.Data.kwargs())
        self.data.setup("fit")
        self.weight = cfg.Losses.adversarial.weight if phase == "adversarial" else None
        self._batches = iter(())

    def step(self) -> None:
        batch = next(self._batches, None)
        if batch is None:
            self._batches = iter(self.data.train_dataloader())
            batch = next(self._batches)
        _plain_iteration(self.g, self.d, self.opts, batch["lr"].to(self.device), batch["hr"].to(self.device),
                         self.weight)


def run_plain(phase: str, warmup: int, iterations: int) -> list[float]:
    """Seconds of each timed iteration of the :class:`PlainLoop`."""
    total = warmup + iterations + 1
    loop = PlainLoop(phase, total)
    stamps: list[float] = []
    while len(stamps) < total:
        _sync(loop.device)
        stamps.append(time.perf_counter())
        loop.step()
    _sync(loop.device)
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
    _fit_with(settings, "bench_iteration_timer")
    return _durations(stamps, warmup, iterations)


def _fit_with(settings: dict[str, Any], callback: str) -> None:
    """``ge.fit`` with ``settings`` and the registered ``callback``; validation, images and the bar off."""
    import torch

    import gan_engine as ge

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as out:
        overrides = {**settings, "Project.output_dir": out, "Callbacks.extra_validation": [{"name": callback}],
                     "Logging.log_images_every_n_steps": 0, "Trainer.limit_val_batches": 0,
                     "Trainer.num_sanity_val_steps": 0, "Trainer.enable_progress_bar": False,
                     "Trainer.enable_model_summary": False}
        ge.fit(None, overrides=overrides)


def run_interleaved(phase: str, warmup: int, iterations: int, against: str = "fit") -> dict[str, list[float]]:
    """Both sides in one process, alternating iteration by iteration: fit, plain, fit, plain, ...

    A callback runs one :class:`PlainLoop` iteration at the start of every fit iteration and
    times it; the fit iteration is timed from the end of that plain iteration to the start of
    the next. Both sides then see the same machine within milliseconds, so the drift of a
    shared machine cancels in the per-iteration ratios. ``against="lightning"`` times a bare
    manual-optimisation LightningModule (:func:`_fit_bare`) in place of ``ge.fit``: the floor
    that Lightning's loop itself sets.
    """
    import lightning as L

    import gan_engine as ge

    total = warmup + iterations + 1
    times: dict[str, list[float]] = {"plain": [], "fit": []}
    plain: list[PlainLoop] = []
    last = [0.0]

    class Interleave(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
            plain.append(PlainLoop(phase, total))

        def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
            _sync(pl_module.device)
            now = time.perf_counter()
            if last[0]:
                times["fit"].append(now - last[0])
            if len(times["plain"]) + 1 >= total:
                trainer.should_stop = True  # the bare module has no iteration limit of its own
            plain[0].step()
            _sync(pl_module.device)
            last[0] = time.perf_counter()
            times["plain"].append(last[0] - now)

        def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
            _sync(pl_module.device)
            times["fit"].append(time.perf_counter() - last[0])

    if against == "lightning":
        _fit_bare(phase, total, Interleave())
    else:
        if "bench_interleave" not in ge.callbacks:
            ge.callbacks.register("bench_interleave", Interleave)
        _fit_with(_settings(phase, total), "bench_interleave")
    return {side: v[warmup:warmup + iterations] for side, v in times.items()}


def _fit_bare(phase: str, total: int, callback: Any) -> None:
    """The plain iteration as the smallest manual-optimisation LightningModule, on ``lightning.Trainer``.

    It toggles, back-propagates and steps with Lightning's own calls (``toggle_optimizer``,
    ``manual_backward``, ``LightningOptimizer.step``); no logger, no checkpoints, no bar.
    """
    import lightning as L
    import torch
    import torch.nn.functional as F

    loop = PlainLoop(phase, total)

    class Bare(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False
            self.g, self.d = loop.g, loop.d

        def configure_optimizers(self) -> Any:
            return loop.opts

        def training_step(self, batch: Any, batch_idx: int) -> None:
            opt_g, opt_d = self.optimizers()  # type: ignore[misc]
            lr, hr = batch["lr"], batch["hr"]
            fake = self.g(lr)
            if loop.weight is not None:
                self.toggle_optimizer(opt_d)
                opt_d.zero_grad(set_to_none=True)
                real_logits, fake_logits = self.d(hr), self.d(fake.detach())
                self.manual_backward(F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                                     + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
                opt_d.step()
                self.untoggle_optimizer(opt_d)
            self.toggle_optimizer(opt_g)
            opt_g.zero_grad(set_to_none=True)
            loss = F.l1_loss(fake, hr)
            if loop.weight is not None:
                logits = self.d(fake)
                loss = loss + loop.weight * F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
            self.manual_backward(loss)
            opt_g.step()
            self.untoggle_optimizer(opt_g)

    class Data(L.LightningDataModule):
        def train_dataloader(self) -> Any:
            return loop.data.train_dataloader()

    with tempfile.TemporaryDirectory() as out:
        trainer = L.Trainer(max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, callbacks=[callback], default_root_dir=out,
                            limit_val_batches=0, num_sanity_val_steps=0)
        trainer.fit(Bare(), datamodule=Data())


def _durations(stamps: list[float], warmup: int, iterations: int) -> list[float]:
    steps = [b - a for a, b in itertools.pairwise(stamps)]
    return steps[warmup:warmup + iterations]


# -- the driver ------------------------------------------------------------------------------


def _measure(side: str, phase: str, args: argparse.Namespace) -> float:
    """Median seconds per iteration of one side, in a fresh process."""
    return float(_worker(side, phase, args)["median_s"])


def _worker(side: str, phase: str, args: argparse.Namespace) -> dict[str, Any]:
    """What a fresh worker process of ``side`` prints (its last line, JSON)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, __file__, "--worker", side, "--phase", phase, "--warmup", str(args.warmup),
           "--iterations", str(args.iterations), "--threads", str(args.threads), "--size", args.size,
           "--against", args.against]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the {side} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _interleaved_result(phase: str, args: argparse.Namespace) -> dict[str, Any]:
    """``--pairs`` fresh processes, each alternating the two sides iteration by iteration."""
    runs = []
    for i in range(args.pairs):
        times = _worker("interleaved", phase, args)  # "fit" holds the --against side
        plain, fit = times["plain"], times["fit"]
        run = {"plain_ms": statistics.median(plain) * 1e3, "fit_ms": statistics.median(fit) * 1e3,
               "ratio": statistics.median(f / p for f, p in zip(fit, plain)),
               "overhead_ms": statistics.median(f - p for f, p in zip(fit, plain)) * 1e3, "n": len(fit)}
        runs.append(run)
        print(f"{phase} process {i + 1}/{args.pairs}: plain {run['plain_ms']:.2f} ms, fit {run['fit_ms']:.2f} ms, "
              f"ratio {run['ratio']:.3f}, overhead {run['overhead_ms']:.2f} ms/it", file=sys.stderr)
    ratios = sorted(r["ratio"] for r in runs)
    overheads = sorted(r["overhead_ms"] for r in runs)
    return {"ratio_median": statistics.median(ratios), "ratio_min": ratios[0], "ratio_max": ratios[-1],
            "overhead_ms_median": statistics.median(overheads), "overhead_ms_min": overheads[0],
            "overhead_ms_max": overheads[-1], "plain_ms_median": statistics.median(r["plain_ms"] for r in runs),
            "fit_ms_median": statistics.median(r["fit_ms"] for r in runs), "processes": runs}


def _phase_result(phase: str, args: argparse.Namespace) -> dict[str, Any]:
    if args.method == "interleaved":
        return _interleaved_result(phase, args)
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
    p.add_argument("--method", choices=("processes", "interleaved"), default="processes",
                   help="processes: each side in its own fresh process, alternating in pairs; interleaved: both "
                        "sides in each process, alternating iteration by iteration (--pairs processes)")
    p.add_argument("--against", choices=("fit", "lightning"), default="fit",
                   help="with --method interleaved: time ge.fit, or a bare manual-optimisation LightningModule "
                        "(Lightning's own floor)")
    p.add_argument("--out", type=Path, help="write the JSON result here as well")
    p.add_argument("--worker", choices=("plain", "fit", "interleaved"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    _SIZE[0] = args.size
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        if args.worker == "interleaved":
            print(json.dumps(run_interleaved(args.phase, args.warmup, args.iterations, args.against)))
            return 0
        run = run_plain if args.worker == "plain" else run_fit
        durations = run(args.phase, args.warmup, args.iterations)
        print(json.dumps({"median_s": statistics.median(durations), "n": len(durations)}))
        return 0
    phases = PHASES if args.phase == "both" else (args.phase,)
    started = time.time()
    result = {"benchmark": "fit overhead vs a plain PyTorch loop", "environment": _environment(args),
              "method": {"method": args.method, "against": args.against, "size": args.size, "pairs": args.pairs,
                         "warmup": args.warmup,
                         "iterations": args.iterations,
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

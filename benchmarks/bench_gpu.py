"""Training speed of the speed switches: fp32, bf16, channels-last and compiled, through ``ge.fit``.

Two models: the quickstart's networks (SRResNet and the SRGAN discriminator, batch 8, 4
bands, 64² HR) and ESRGAN's (RRDB ×4 with 23 blocks, the VGG-style discriminator, batch 4,
3 bands, 128² HR). Each variant trains adversarial iterations in a fresh process through
``ge.fit`` (the timer is the iteration timer of ``bench_overhead.py``) and reports the median
seconds per iteration after the warm-up; compiled variants are timed after their compilation,
which is reported separately (the first iterations' extra time).

Variants (``--variants``, comma-separated):

- ``fp32``: the defaults;
- ``bf16``: ``Training.precision: bf16`` (with ``Training.fast_matmul`` on CUDA);
- ``channels_last``: ``Training.channels_last: true`` in bf16;
- ``compiled``: ``Training.compile.enabled: true`` (inductor) in bf16 with channels-last;
- ``fp16``: ``Training.precision: "16"`` (CUDA);
- ``compiled_fp32``: ``Training.compile.enabled: true`` in float32 (compiled against ``fp32``
  where bf16 is slow, as on most CPUs).

Runs anywhere; made for a GPU (the ``device`` tool where one is lent). On a CPU the RRDB model
is slow: ``--models quickstart`` keeps to the small one.

    python benchmarks/bench_gpu.py --out gpu.json
    python benchmarks/bench_gpu.py --models quickstart --variants fp32,compiled --iterations 10
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_overhead import ROOT, _environment, emit, time_fit

MODELS: dict[str, dict[str, Any]] = {
    "quickstart": {"Data.batch_size": 8, "Data.hr_size": 64, "Data.bands": 4},
    "rrdb_x4_128": {"Generator.name": "rrdb", "Discriminator.name": "esrgan", "Data.batch_size": 4,
                    "Data.hr_size": 128, "Data.bands": 3},
}
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {},
    "bf16": {"Training.precision": "bf16", "Training.fast_matmul": True},
    "channels_last": {"Training.precision": "bf16", "Training.fast_matmul": True, "Training.channels_last": True},
    "compiled": {"Training.precision": "bf16", "Training.fast_matmul": True, "Training.channels_last": True,
                 "Training.compile.enabled": True},
    "fp16": {"Training.precision": "16", "Training.fast_matmul": True},
    "compiled_fp32": {"Training.compile.enabled": True},
}


def _settings(model: str, variant: str, total: int) -> dict[str, Any]:
    return {"Training.max_steps": total, "Training.pretrain_steps": 0, "Losses.adversarial.ramp.steps": 0,
            "Training.EMA.enabled": False, "Data.train_size": 64, **MODELS[model], **VARIANTS[variant]}


def run_worker(model: str, variant: str, warmup: int, iterations: int) -> dict[str, Any]:
    durations = time_fit(_settings(model, variant, warmup + iterations + 1), 0, warmup + iterations)
    timed = durations[warmup:]
    median = statistics.median(timed)
    return {"median_ms": median * 1e3, "min_ms": min(timed) * 1e3, "max_ms": max(timed) * 1e3,
            "warmup_extra_s": sum(durations[:warmup]) - warmup * median, "n": len(timed)}


def _measure(model: str, variant: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, __file__, "--worker", model, variant, "--warmup", str(args.warmup),
           "--iterations", str(args.iterations)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {', '.join(MODELS)}")
    p.add_argument("--variants", default="fp32,bf16,channels_last,compiled",
                   help=f"comma-separated, from {', '.join(VARIANTS)}")
    p.add_argument("--warmup", type=int, default=10, help="iterations before timing (compilation happens here)")
    p.add_argument("--iterations", type=int, default=30, help="timed iterations per process")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--out", type=Path, help="write the JSON result here as well")
    p.add_argument("--worker", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(run_worker(*args.worker, args.warmup, args.iterations)))
        return 0
    models, variants = args.models.split(","), args.variants.split(",")
    unknown = [m for m in models if m not in MODELS] + [v for v in variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown model or variant: {', '.join(unknown)}")
    started = time.time()
    results: dict[str, dict[str, Any]] = {}
    for model in models:
        results[model] = {}
        for variant in variants:
            results[model][variant] = r = _measure(model, variant, args)
            base = results[model].get("fp32", {}).get("median_ms")
            if base and "median_ms" in r:
                r["speedup_vs_fp32"] = base / r["median_ms"]
            print(f"{model} {variant}: " + (f"{r['median_ms']:.1f} ms/it" if "median_ms" in r else r["error"]),
                  file=sys.stderr)
    ns = argparse.Namespace(threads=args.threads)
    out = {"benchmark": "training speed of the speed switches", "environment": _environment(ns),
           "method": {"warmup": args.warmup, "iterations": args.iterations,
                      "statistic": "median ms/iteration after warm-up, one fresh process per variant"},
           "results": results, "wall_s": round(time.time() - started, 1)}
    emit(out, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

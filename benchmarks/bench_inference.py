"""Inference speed and memory: output megapixels per second and peak memory, tiled against untiled.

Question: what does tiling cost in speed, and does it keep memory flat as scenes grow? Three
modes: ``untiled`` and ``tiled`` run the array API on an in-memory scene (its output is in
memory too); ``file`` predicts a ``.npy`` scene into a ``.npy`` file with ``predict_file``
(windowed reads, strip-by-strip blending and writes). The model is the quickstart generator
(SRResNet, 32 channels, 8 blocks, ×4, 4 bands) with random weights — speed and memory do not
depend on the weights. Each measurement is a fresh process
(so its peak resident memory, ``ru_maxrss``, or the CUDA allocator's peak, is its own) that
predicts one scene of the given output side once after a warm-up on a small input, and
reports seconds, output megapixels per second and peak memory.

    python benchmarks/bench_inference.py                          # 1k², 4k², 8k² outputs on this machine
    python benchmarks/bench_inference.py --sizes 1024 4096 --device cuda --out inference-gpu.json

Untiled runs above ``--untiled-max`` output pixels per side are skipped: their memory grows
with the scene (that is the point of tiling) and would exhaust a small machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _predictor(device: str, precision: str) -> Any:
    import gan_engine as ge
    from gan_engine.predictor import Predictor

    torch.manual_seed(0)
    generator = ge.generators.build("srresnet", in_channels=4, out_channels=4, scale=4, n_channels=32, n_blocks=8,
                                    image_skip=True)
    identity = {b: ge.normalizers.build("identity") for b in ("lr", "hr", "cond")}
    return Predictor(generator, identity, ge.tasks.build("super_resolution", scale=4), device=device,
                     precision=precision)


MODES = ("untiled", "tiled", "file")


def _input_file(folder: Path, side: int) -> Path:
    """A random ``(4, side/4, side/4)`` float32 ``.npy`` LR scene, written in row blocks."""
    path = folder / f"lr-{side}.npy"
    if not path.exists():
        lr = np.lib.format.open_memmap(path, "w+", np.float32, (4, side // 4, side // 4))
        rng = np.random.default_rng(0)
        for start in range(0, side // 4, 256):
            lr[:, start:start + 256] = rng.random(lr[:, start:start + 256].shape, dtype=np.float32)
        lr.flush()
        del lr
    return path


def _worker(side: int, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    predictor = _predictor(args.device, args.precision)
    tile = {} if mode == "untiled" else {"tile": args.tile, "batch_size": args.batch_size}
    predictor(torch.rand(4, 32, 32), **tile)  # warm-up: kernels, allocator
    lr = None if mode == "file" else torch.rand(4, side // 4, side // 4)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    if lr is None:
        src = _input_file(Path(args.scratch), side)
        predictor.predict_file(src, Path(args.scratch) / f"sr-{side}.npy", **tile)
    else:
        predictor(lr, **tile)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() if args.device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"side": side, "mode": mode, "seconds": seconds, "mpix_per_s": side * side / 1e6 / seconds,
            "peak_mib": peak / 2**20, "memory": "cuda allocated" if args.device.startswith("cuda") else "process rss"}


def _measure(side: int, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", str(side), "--mode", mode, "--device", args.device,
           "--precision", args.precision, "--tile", str(args.tile), "--batch-size", str(args.batch_size),
           "--threads", str(args.threads), "--scratch", args.scratch]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 8192], help="output sides in pixels")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="32", choices=["32", "16", "bf16"])
    p.add_argument("--tile", type=int, default=256, help="tile side in input pixels")
    p.add_argument("--batch-size", type=int, default=4, help="tiles per forward pass")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--untiled-max", type=int, default=4096, help="largest output side run untiled")
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--out", help="write the JSON result here")
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES,
                   help="untiled / tiled: the array API in memory; file: .npy to .npy through predict_file")
    p.add_argument("--scratch", default=None, help="folder for the file mode's inputs and outputs")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.mode, args)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        args.scratch = args.scratch or scratch
        for side in args.sizes:
            for mode in args.modes:
                if mode == "untiled" and side > args.untiled_max:
                    continue
                row = _measure(side, mode, args)
                rows.append(row)
                print(f"{side:>6}² {mode:<8} {row['seconds']:8.2f} s {row['mpix_per_s']:7.3f} MP/s  "
                      f"peak {row['peak_mib']:8.0f} MiB", flush=True)
    result = {"rows": rows, "tile": args.tile, "batch_size": args.batch_size, "device": args.device,
              "precision": args.precision, "threads": args.threads, "torch": torch.__version__,
              "python": platform.python_version(), "machine": platform.machine()}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

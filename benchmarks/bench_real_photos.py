"""Train ×4 super-resolution on real photographs and compare it with bicubic on held-out photos.

The photographs are those scikit-image ships in its wheel (``pip install scikit-image``;
nothing is downloaded): six for training, three others for validation. Two models are
trained with the recipe ``examples/configs/real_photos_sr.yaml`` at a CPU budget (smaller
networks and crops, below), one on the classic degradation (plain bicubic) and one on the
recipe's degradation (``--set`` changes the recipe's model only). Each is evaluated on the
held-out photos degraded three ways: plain antialiased bicubic downsampling, the second-order
model with Real-ESRGAN's defaults, and a milder second-order model (``LIGHT``); both are
seeded, so every run sees the same inputs. Tiles that are flat (standard deviation of the
HR tile below ``--flat``; black sky or background, where bicubic is exact and PSNR
saturates) are left out and counted.

    python benchmarks/bench_real_photos.py --steps 1400 --output benchmarks/results-real-photos-cpu.json

The EMA generator of the last iteration is evaluated. PSNR and SSIM are on RGB in [0, 1],
with a 4-pixel border left out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

TRAIN = ["rocket", "motorcycle_left", "motorcycle_right", "ihc", "hubble_deep_field", "retina"]
VAL = ["astronaut", "chelsea", "coffee"]
RECIPE = Path(__file__).resolve().parents[1] / "examples" / "configs" / "real_photos_sr.yaml"
# A milder second-order model, closer to a phone or camera photo resized once: weaker blur,
# noise below 10/255, JPEG quality 60-95, a final sinc filter one time in three. These are the
# ranges of the recipe's degradation (evaluated here with no bicubic share).
LIGHT = {"blur_sigma": [0.2, 1.5], "blur_sigma2": [0.2, 1.0], "second_blur_prob": 0.5,
         "resize_range": [0.5, 1.5], "resize_range2": [0.7, 1.2], "noise_range": [1 / 255, 10 / 255],
         "noise_range2": [1 / 255, 7.5 / 255], "poisson_scale": [0.05, 1.0], "poisson_scale2": [0.05, 0.8],
         "jpeg_range": [60, 95], "jpeg_range2": [70, 95], "final_sinc_prob": 0.3}
KINDS = {"bicubic": "bicubic LR", "second_order": "second-order LR", "light": "light second-order LR"}
# the CPU budget: the quickstart's networks and crops
CPU = ["Generator.name=srresnet", "Generator.n_channels=32", "Generator.n_blocks=8", "Generator.image_skip=true",
       "Discriminator.name=srgan", "Discriminator.base_channels=32", "Data.hr_size=64", "Data.val_hr_size=64",
       "Data.batch_size=8", "Data.val_batch_size=8", "Data.num_workers=0", "Data.crops_per_image=16",
       "Optimizers.generator.lr=1.0e-3", "Losses.adversarial.weight=0.001", "Losses.adversarial.ramp.steps=0",
       "Training.d_augment.speed_images=20000", "Logging.log_images_every_n_steps=0",
       "Logging.plot_curves=false", "Callbacks.checkpoint.monitor=null"]


def _photos(root: Path, train: list[str] = TRAIN) -> None:
    """Copy the photographs out of scikit-image's wheel (its ``data`` folder) as RGB PNGs."""
    import skimage

    shipped = Path(skimage.__file__).parent / "data"
    if set(train) & set(VAL):
        raise SystemExit(f"--train may not hold the held-out photos {sorted(set(train) & set(VAL))}")
    for split, names in (("train", train), ("val", VAL)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for name in names:
            path = next(p for p in shipped.glob(f"{name}.*") if p.suffix in (".png", ".jpg"))
            Image.open(path).convert("RGB").save(root / split / f"{name}.png")


def _tiles(root: Path, size: int, flat: float) -> tuple[torch.Tensor, int]:
    tiles = []
    for path in sorted((root / "val").glob("*.png")):
        img = torch.from_numpy(np.asarray(Image.open(path).convert("RGB"))).permute(2, 0, 1).float() / 255
        for top in range(0, img.shape[1] - size + 1, size):
            for left in range(0, img.shape[2] - size + 1, size):
                tiles.append(img[:, top:top + size, left:left + size])
    stack = torch.stack(tiles)
    keep = stack.flatten(1).std(1) >= flat
    return stack[keep], int((~keep).sum())


def _metrics(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    from gan_engine.metrics.image import psnr, ssim

    b = 4
    p, t = pred.clamp(0, 1)[..., b:-b, b:-b], target[..., b:-b, b:-b]
    return {"psnr": round(float(psnr(p, t, 1.0)), 3), "ssim": round(float(ssim(p, t, 1.0)), 4)}


def _inputs(hr: torch.Tensor) -> dict[str, torch.Tensor]:
    import gan_engine as ge

    bicubic = F.interpolate(hr, scale_factor=0.25, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    inputs = {"bicubic": bicubic}
    for kind, params in (("second_order", {}), ("light", LIGHT)):
        deg = ge.degradations.build("second_order", scale=4, **params)
        rng = torch.Generator().manual_seed(2026)
        outs = []
        for start in range(0, hr.shape[0], 16):  # batches of 16, as a data loader would make them
            part = hr[start:start + 16]
            items = [deg.sample(3, hr.shape[-2], hr.shape[-1], rng) for _ in range(part.shape[0])]
            batch = {k: torch.stack([i[k] for i in items]) for k in items[0]}
            outs.append(deg(part, deg.plan(batch)))
        inputs[kind] = torch.cat(outs)
    return inputs


def _upscale(generator: Any, lr: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([generator(lr[i:i + 16]) for i in range(0, lr.shape[0], 16)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, nargs="+", default=[700], help="iteration budgets to train")
    parser.add_argument("--pretrain-fraction", type=float, default=0.8, help="share of generator-only iterations")
    parser.add_argument("--degradations", nargs="+", default=["classic", "second_order"])
    parser.add_argument("--train", nargs="+", default=TRAIN, help="scikit-image photos to train on (grey ones "
                        "are copied to the three bands)")
    parser.add_argument("--tile", type=int, default=96, help="side of the HR validation tiles")
    parser.add_argument("--flat", type=float, default=0.03, help="tiles with a smaller std are left out")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an extra configuration override of the recipe's model (not the classic one; "
                             "repeatable), e.g. 'Data.degradation={name: second_order, bicubic_prob: 0.6}'")
    parser.add_argument("--output", type=Path, default=None, help="JSON file of the results")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD", "1")
    import gan_engine as ge

    work = Path(tempfile.mkdtemp(prefix="real_photos_"))
    _photos(work / "photos", args.train)
    hr, flat = _tiles(work / "photos", args.tile, args.flat)
    inputs = _inputs(hr)
    rows: list[dict[str, Any]] = [{"model": "bicubic upsampling", "degradation": None, "steps": 0, "seconds": 0.0,
                                   **{f"{k}_{m}": v for k, lr in inputs.items() for m, v in _metrics(
                                       F.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False), hr
                                   ).items()}}]
    print(f"{hr.shape[0]} validation tiles of {args.tile}² ({flat} flat ones left out)", flush=True)
    for steps in args.steps:
        for name in args.degradations:
            # second_order: the recipe's own degradation, as its YAML file sets it
            degradation = ["Data.degradation={name: classic}"] if name == "classic" else []
            overrides = [*CPU, *degradation, f"Data.root={work / 'photos'}", f"Project.output_dir={work / 'runs'}",
                         f"Project.run_name={name}-{steps}", f"Training.max_steps={steps}",
                         f"Training.pretrain_steps={int(steps * args.pretrain_fraction)}",
                         *(args.set if name != "classic" else [])]
            cfg = ge.load_config(RECIPE, overrides=overrides)
            start = time.perf_counter()
            result = ge.fit(cfg)
            seconds = time.perf_counter() - start
            generator = ge.load_generator(result.last_checkpoint)
            row: dict[str, Any] = {"model": f"recipe, trained on {name}", "degradation": name, "steps": steps,
                                   "seconds": round(seconds, 1),
                                   "trained_on": cfg.to_dict()["Data"].get("degradation")}
            for kind, lr in inputs.items():
                row.update({f"{kind}_{m}": v for m, v in _metrics(_upscale(generator, lr), hr).items()})
            rows.append(row)
            print(json.dumps(row), flush=True)
    report = {"tiles": int(hr.shape[0]), "flat_tiles_left_out": flat, "tile": args.tile, "train": args.train,
              "val": VAL, "cpu_overrides": CPU, "recipe_overrides": args.set, "light": LIGHT, "threads": args.threads,
              "torch": torch.__version__, "machine": platform.machine(), "rows": rows}
    if args.output:
        args.output.write_text(json.dumps(report, indent=2) + "\n")
    print("| model | iterations | time | " + " | ".join(f"{v}: PSNR / SSIM" for v in KINDS.values()) + " |")
    print("|---|---|---|" + "---|" * len(KINDS))
    for r in rows:
        print(f"| {r['model']} | {r['steps']} | {r['seconds']:.0f} s | "
              + " | ".join(f"{r[f'{k}_psnr']:.2f} / {r[f'{k}_ssim']:.3f}" for k in KINDS) + " |")


if __name__ == "__main__":
    main()

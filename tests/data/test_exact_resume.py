"""Every built-in data module resumes mid-epoch bit for bit, with and without loader workers.

Two levels: the training loader alone (its batches after ``load_state_dict`` are those an
uninterrupted loader gives next, across epoch boundaries), and a whole fit resumed from a
mid-epoch checkpoint (the weights equal those of the run that was never stopped).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from engine_helpers import SaveAt, trainer
from PIL import Image

import gan_engine as ge
from gan_engine.data.datasets import PatchDataset, TensorLoader
from gan_engine.data.sampling import SampleKey, SeededSampler, seeded_loader
from gan_engine.registry import datamodules

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"
SR = {"Generator": {"name": "srresnet", "n_channels": 8, "n_blocks": 1},
      "Discriminator": {"name": "srgan", "base_channels": 4, "n_stages": 2}}
DEGRADE = {"blur_sigma": [0.2, 1.5], "noise_std": [0.0, 0.05], "blur_prob": 0.7, "noise_prob": 0.7}
UNET = ["Generator.base_channels=8", "Generator.depth=2", "Discriminator.base_channels=8"]


def _pngs(folder: Path, n: int, size: int = 24) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"img{i:02d}.png")


def _pairs(root: Path, n: int, scale: int = 4, lr_size: int = 8) -> None:
    for sub in ("LR", "HR"):
        (root / "train" / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        hr = rng.random((3, lr_size * scale, lr_size * scale)).astype(np.float32)
        np.save(root / "train" / "HR" / f"p{i}.npy", hr)
        np.save(root / "train" / "LR" / f"p{i}.npy", hr.reshape(3, lr_size, scale, lr_size, scale).mean(axis=(2, 4)))


# name -> a function of (tmp_path, workers) giving a config; each draws per-sample randomness
def _image_folder(tmp: Path, workers: int) -> ge.Config:
    _pngs(tmp / "images", 5)
    data = {"name": "image_folder", "root": str(tmp / "images"), "hr_size": 16, "val_fraction": 0.2,
            "crops_per_image": 2, "degradation": DEGRADE, "batch_size": 2, "num_workers": workers, "seed": 3}
    return ge.load_config({**SR, "Data": data, "Training": {"pretrain_steps": 2, "max_steps": 8}})


def _real_photos(tmp: Path, workers: int) -> ge.Config:
    """image_folder with the second-order degradation and adaptive discriminator augmentation."""
    _pngs(tmp / "images", 5)
    data = {"name": "image_folder", "root": str(tmp / "images"), "hr_size": 16, "val_fraction": 0.2,
            "crops_per_image": 2, "degradation": {"name": "second_order"}, "batch_size": 2,
            "num_workers": workers, "seed": 3}
    augment = {"policy": ["translation", "color", "cutout", "flip"], "adaptive": True, "interval": 1,
               "speed_images": 40}
    return ge.load_config({**SR, "Data": data, "Training": {"pretrain_steps": 2, "max_steps": 8,
                                                           "d_augment": augment}})


def _paired_folder(tmp: Path, workers: int) -> ge.Config:
    _pairs(tmp / "pairs", 6)
    data = {"name": "paired_folder", "root": str(tmp / "pairs"), "hr_size": 16, "val_fraction": 0.2,
            "batch_size": 2, "num_workers": workers}
    return ge.load_config({**SR, "Data": data, "Training": {"pretrain_steps": 2, "max_steps": 8}})


def _example(name: str, *extra: str) -> Callable[[Path, int], ge.Config]:
    def make(tmp: Path, workers: int) -> ge.Config:
        return ge.load_config(CONFIGS / f"{name}.yaml", overrides=[
            *extra, "Data.size=16", "Data.train_size=10", "Data.val_size=2", "Data.batch_size=2",
            "Data.val_batch_size=2", f"Data.num_workers={workers}", "Training.max_steps=8"])
    return make


MODULES: dict[str, Callable[[Path, int], ge.Config]] = {
    "image_folder": _image_folder,
    "image_folder+second_order+ada": _real_photos,
    "paired_folder": _paired_folder,
    "synthetic_i2i": _example("image_to_image", *UNET, "Training.pretrain_steps=2"),
    "synthetic_inpainting": _example("inpainting", *UNET, "Training.pretrain_steps=2"),
    "synthetic_synthesis": _example("synthesis", "Generator.image_size=16", "Generator.base_channels=8",
                                    "Discriminator.base_channels=8", "Discriminator.n_layers=2",
                                    "Task.num_classes=2"),
    "synthetic_sr": lambda tmp, workers: ge.load_config({**SR, "Data": {
        "hr_size": 16, "train_size": 10, "val_size": 2, "batch_size": 2, "num_workers": workers},
        "Training": {"pretrain_steps": 2, "max_steps": 8}}),
}


def _datamodule(cfg: ge.Config) -> L.LightningDataModule:
    dm = datamodules.build(cfg.Data.name, **cfg.Data.kwargs())
    dm.setup("fit")
    return dm  # type: ignore[no-any-return]


def _flat(batch: dict[str, Any]) -> list[torch.Tensor]:
    out = []
    for key in sorted(batch):
        value = batch[key]
        out += _flat(value) if isinstance(value, dict) else [value]
    return out


def _stream(loader: Any, n: int, stop_at: int | None = None) -> tuple[list[list[torch.Tensor]], Any]:
    """``n`` batches over as many epochs as it takes; the loader's state after ``stop_at`` batches."""
    batches: list[list[torch.Tensor]] = []
    state = None
    while len(batches) < n:
        for batch in loader:
            batches.append(_flat(batch))
            if len(batches) == stop_at:
                state = loader.state_dict()
            if len(batches) == n:
                break
    return batches, state


@pytest.mark.parametrize("workers", [0, 2], ids=["no-workers", "2-workers"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_training_loader_continues_exactly_from_its_saved_state(tmp_path: Path, name: str, workers: int) -> None:
    cfg = MODULES[name](tmp_path, workers)
    loader = _datamodule(cfg).train_dataloader()
    per_epoch = len(loader)
    stop = per_epoch + per_epoch // 2  # the middle of the second epoch
    straight, state = _stream(loader, 3 * per_epoch, stop_at=stop)
    resumed_loader = _datamodule(cfg).train_dataloader()
    resumed_loader.load_state_dict(state)
    rest, _ = _stream(resumed_loader, 3 * per_epoch - stop)
    assert len(rest) == len(straight[stop:])
    for i, (a, b) in enumerate(zip(straight[stop:], rest)):
        assert all(torch.equal(x, y) for x, y in zip(a, b)), f"batch {stop + i} differs after resuming"
    epoch0, epoch1 = straight[:per_epoch], straight[per_epoch:2 * per_epoch]
    same = [all(torch.equal(x, y) for x, y in zip(a, b)) for a, b in zip(epoch0, epoch1)]
    assert not all(same), "every epoch drew the same batches"


def test_a_training_item_depends_only_on_the_seed_its_key_carries() -> None:
    images = torch.rand(4, 3, 16, 16)
    ds = PatchDataset(TensorLoader({"image": images}), 4, {"image": 1}, crop=8)
    first, again = ds[SampleKey(1, epoch=0, seed=11)], ds[SampleKey(1, epoch=0, seed=11)]
    torch.manual_seed(123)  # the global generator plays no part
    later = ds[SampleKey(1, epoch=0, seed=11)]
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["image"], later["image"])
    assert not torch.equal(first["image"], ds[SampleKey(1, epoch=0, seed=12)]["image"])


def test_the_sampler_order_is_a_function_of_seed_and_epoch() -> None:
    sampler = SeededSampler(range(20), seed=1)
    epoch0, epoch1 = list(sampler), list(sampler)
    assert sorted(epoch0) == list(range(20)) and epoch0 != epoch1
    assert [k.epoch for k in epoch0] == [0] * 20 and [k.epoch for k in epoch1] == [1] * 20  # type: ignore[attr-defined]
    assert len({k.seed for k in epoch0 + epoch1}) == 40  # type: ignore[attr-defined]
    fresh = list(SeededSampler(range(20), seed=1))
    assert fresh == epoch0 and [k.seed for k in fresh] == [k.seed for k in epoch0]  # type: ignore[attr-defined]
    assert list(SeededSampler(range(20), seed=2)) != epoch0


def test_another_project_seed_gives_another_order_and_other_augmentations(tmp_path: Path) -> None:
    cfg = MODULES["image_folder"](tmp_path, 0)
    batches = []
    for seed in (1, 1, 2):
        L.seed_everything(seed, verbose=False)
        batches.append(_stream(_datamodule(cfg).train_dataloader(), 2)[0])
    same = [all(torch.equal(x, y) for x, y in zip(a, b)) for a, b in zip(batches[0], batches[1])]
    other = [all(torch.equal(x, y) for x, y in zip(a, b)) for a, b in zip(batches[0], batches[2])]
    assert all(same) and not any(other)


def _fit(cfg: ge.Config, tmp: Path, ckpt: Path | None = None, save_at: int | None = None) -> ge.GANModule:
    torch.manual_seed(0)
    module = ge.GANModule(cfg)
    callbacks = [SaveAt(save_at, tmp / "mid.ckpt")] if save_at else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer(tmp, callbacks=callbacks).fit(module, _datamodule(cfg), ckpt_path=ckpt)
    return module


@pytest.mark.parametrize(("name", "workers", "at"), [(n, 0, 3) for n in sorted(MODULES)]
                         + [("image_folder", 2, 3), ("synthetic_inpainting", 2, 3),
                            ("image_folder+second_order+ada", 2, 5),
                            ("image_folder", 0, 4), ("image_folder", 2, 4)])
def test_a_fit_resumed_mid_epoch_equals_the_uninterrupted_one(tmp_path: Path, name: str, workers: int, at: int) -> None:
    """Iteration 3 is inside an epoch of every module; 4 ends image_folder's first epoch (4 batches)."""
    cfg = MODULES[name](tmp_path, workers)
    straight = _fit(cfg, tmp_path, save_at=at)
    saved = torch.load(tmp_path / "mid.ckpt", weights_only=False)
    batches_done = saved["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]["processed"]
    assert saved["gan_engine"]["iteration"] == at and batches_done == (at if at == 4 else batches_done) > 0
    resumed = _fit(cfg, tmp_path, ckpt=tmp_path / "mid.ckpt")
    assert straight.iteration == resumed.iteration == 8
    a, b = straight.state_dict(), resumed.state_dict()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} tensors differ after resuming, e.g. {differ[:3]}"
    if straight.d_augment is not None:  # ADA's p moved, was saved mid-run and continued
        assert float(saved["state_dict"]["d_augment.p"]) > 0 and float(resumed.d_augment.p) > 0


class _PlainLoaderData(L.LightningDataModule):
    """A user's own data module with a plain torch DataLoader (no saved position)."""

    def __init__(self, cfg: ge.Config) -> None:
        super().__init__()
        self.inner = _datamodule(cfg)

    def train_dataloader(self) -> Any:
        return torch.utils.data.DataLoader(self.inner.train_set, batch_size=2, shuffle=True, drop_last=True)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        return self.inner.on_after_batch_transfer(batch, dataloader_idx)


def _resume_warnings(cfg: ge.Config, tmp: Path, data: Callable[[], L.LightningDataModule], at: int) -> list[str]:
    torch.manual_seed(0)
    trainer(tmp, callbacks=[SaveAt(at, tmp / f"at{at}.ckpt")]).fit(ge.GANModule(cfg), data())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer(tmp).fit(ge.GANModule(cfg), data(), ckpt_path=tmp / f"at{at}.ckpt")
    return [str(w.message) for w in caught if "resuming" in str(w.message)]


def test_a_plain_dataloader_resumed_mid_epoch_gets_one_warning_saying_what_is_lost(tmp_path: Path) -> None:
    cfg = MODULES["synthetic_sr"](tmp_path, 0)  # 5 batches an epoch
    messages = _resume_warnings(cfg, tmp_path, lambda: _PlainLoaderData(cfg), at=3)
    assert len(messages) == 1, messages
    assert "middle of epoch 0 (after batch 3 of 5)" in messages[0] and "StatefulDataLoader" in messages[0]
    assert not _resume_warnings(cfg, tmp_path, lambda: _PlainLoaderData(cfg), at=5)  # an epoch boundary: nothing lost
    assert not _resume_warnings(cfg, tmp_path, lambda: _datamodule(cfg), at=3)  # the built-in loader resumes exactly


class _OwnStatefulData(_PlainLoaderData):
    """A user's own data module whose training loader is gan_engine.data.seeded_loader."""

    def train_dataloader(self) -> Any:
        return seeded_loader(self.inner.train_set, seed=7, batch_size=2, drop_last=True)


def test_a_users_own_module_with_a_stateful_loader_resumes_exactly(tmp_path: Path) -> None:
    cfg = MODULES["synthetic_sr"](tmp_path, 0)
    torch.manual_seed(0)
    straight = ge.GANModule(cfg)
    trainer(tmp_path, callbacks=[SaveAt(3, tmp_path / "own.ckpt")]).fit(straight, _OwnStatefulData(cfg))
    resumed = ge.GANModule(cfg)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer(tmp_path).fit(resumed, _OwnStatefulData(cfg), ckpt_path=tmp_path / "own.ckpt")
    assert not [w for w in caught if "resuming" in str(w.message)]
    assert resumed.iteration == 8 and all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(),
                                                                            resumed.state_dict().values()))

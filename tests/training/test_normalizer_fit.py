"""Normalisers without statistics are fitted on the training data, once, and travel with checkpoints."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from engine_helpers import SaveAt, datamodule, fit, tiny_module

import gan_engine as ge
from gan_engine.components.normalizers.radiometric import ZScoreNormalizer
from gan_engine.inference import load_normalizers
from gan_engine.training import normalization
from gan_engine.training.module import GANModule

ZSCORE = {"Normalization": {"name": "zscore"}, "Training.max_steps": 2}


def _training_images(module: GANModule, key: str) -> torch.Tensor:
    """Every training image of ``key``: 8 images in 4 batches, all read by the fit (at most 32 batches)."""
    dm = datamodule(module)
    dm.setup("fit")
    return torch.cat([b[key] for b in dm.train_dataloader()])


def _band_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    bands = x.double().transpose(0, 1).flatten(1)
    return bands.mean(dim=1), bands.std(dim=1, unbiased=False)


def _stats(norm: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in norm.state_dict().items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[GANModule, Path]:
    tmp = tmp_path_factory.mktemp("zscore")
    module = tiny_module(ZSCORE)
    fit(module, tmp, callbacks=[SaveAt(2, tmp / "last.ckpt")])
    return module, tmp / "last.ckpt"


def test_zscore_is_fitted_on_each_branch_of_the_training_data(trained: tuple[GANModule, Path]) -> None:
    module, _ = trained
    assert module.iteration == 2  # trained: the first batch did not raise NormalizerNotFittedError
    for branch in ("lr", "hr"):
        norm = module.normalizers[branch]
        mean, std = _band_stats(_training_images(module, branch))
        assert norm.mean.shape == (3,) and torch.allclose(norm.mean, mean) and torch.allclose(norm.std, std)
    assert not torch.allclose(module.normalizers["lr"].std, module.normalizers["hr"].std)  # each its own data
    hr = _training_images(module, "hr")
    normalised = module.normalizers["hr"].normalize(hr).transpose(0, 1).flatten(1)
    assert torch.allclose(normalised.mean(dim=1), torch.zeros(3), atol=1e-5)


def test_a_resumed_run_keeps_its_statistics(trained: tuple[GANModule, Path], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    first, ckpt = trained
    saved = _stats(first.normalizers["hr"])
    fits: list[str] = []
    monkeypatch.setattr(ZScoreNormalizer, "fit", lambda self, data, key=None: fits.append("fit") or self)
    resumed = tiny_module({**ZSCORE, "Training.max_steps": 3, "Data.seed": 7})  # other data: a refit would differ
    fit(resumed, tmp_path, ckpt_path=ckpt)
    assert resumed.iteration == 3 and fits == []
    assert all(torch.equal(v, saved[k]) for k, v in _stats(resumed.normalizers["hr"]).items())


def test_load_normalizers_restores_the_fitted_statistics(trained: tuple[GANModule, Path]) -> None:
    module, ckpt = trained
    loaded = load_normalizers(ckpt)
    x = torch.rand(2, 3, 8, 8)
    for branch in ("lr", "hr"):
        assert loaded[branch].is_fitted
        assert all(torch.equal(v, _stats(module.normalizers[branch])[k]) for k, v in _stats(loaded[branch]).items())
        assert torch.equal(loaded[branch].normalize(x), module.normalizers[branch].normalize(x))


def test_percentile_is_fitted_and_given_statistics_are_kept() -> None:
    module = tiny_module({"Normalization": {"name": "percentile", "hr": {"name": "zscore", "mean": [0.5] * 3,
                                                                          "std": [0.25] * 3}},
                          "Training.max_steps": 2})
    fit(module)
    expected = ge.normalizers.build("percentile").fit(_training_images(module, "lr"))
    assert torch.allclose(module.normalizers["lr"].low, expected.low)
    assert torch.allclose(module.normalizers["lr"].high, expected.high)
    assert module.normalizers["hr"].mean.tolist() == [0.5] * 3  # given: not refitted


def test_at_most_the_first_batches_are_read() -> None:
    module = tiny_module({**ZSCORE, "Training.max_steps": 2})
    assert module.normalizer_fit_batches == normalization.FIT_BATCHES == 32
    module.normalizer_fit_batches = 1
    fit(module)
    first = next(iter(_loader(module)))["hr"]
    mean, _ = _band_stats(first)
    assert torch.allclose(module.normalizers["hr"].mean, mean)


def _loader(module: GANModule) -> object:
    dm = datamodule(module)
    dm.setup("fit")
    return dm.train_dataloader()


def test_a_failed_fit_names_the_branch() -> None:
    class NoImages(L.LightningDataModule):
        def train_dataloader(self) -> list[dict[str, torch.Tensor]]:
            return []

    module = tiny_module(ZSCORE)
    with pytest.raises(ge.GanEngineError, match=r"the 'lr' normaliser ZScoreNormalizer needs statistics, but the "
                                                r"training loader gave no 'lr' tensors"):
        L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                  enable_model_summary=False, max_epochs=1).fit(module, NoImages())

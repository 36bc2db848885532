"""Fixtures: random-initialised stand-ins for the pretrained networks, saved as torchvision would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from gan_engine.components.losses.lpips import LPIPSNetwork
from gan_engine.nn.pretrained import ALEXNET, VGG16, VGG19, alexnet_features, vgg_features


def _save_features(net: torch.nn.Module, path: Path) -> Path:
    torch.save({f"features.{k}": v for k, v in net.state_dict().items()}, path)
    return path


@pytest.fixture(scope="session")
def fake_weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files named like torchvision's downloads, holding random weights (built once per session)."""
    root = tmp_path_factory.mktemp("weights")
    torch.manual_seed(123)
    files = {
        VGG19.file_name: _save_features(vgg_features("vgg19"), root / VGG19.file_name),
        VGG16.file_name: _save_features(vgg_features("vgg16"), root / VGG16.file_name),
        ALEXNET.file_name: _save_features(alexnet_features(), root / ALEXNET.file_name),
    }
    heads = LPIPSNetwork("alex").heads
    for conv in heads:  # LPIPS heads are non-negative
        conv.weight.data.abs_()
    torch.save({f"lin{i}.model.1.weight": c.weight.data for i, c in enumerate(heads)}, root / "lpips_alex.pth")
    files["lpips_alex.pth"] = root / "lpips_alex.pth"
    return files


@pytest.fixture
def hub_cache(tmp_path: Path, fake_weights: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A torch hub cache holding the fake weights, in place of the user's."""
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name, path in fake_weights.items():
        (checkpoints / name).symlink_to(path)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    yield checkpoints


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A torch hub cache with nothing in it."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty-hub"))
    return tmp_path / "empty-hub" / "checkpoints"


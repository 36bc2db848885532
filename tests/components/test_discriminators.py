"""Contract tests generated from the discriminators registry, plus per-architecture behaviour."""

from __future__ import annotations

import pytest
import torch

import gan_engine as ge
from gan_engine.errors import ShapeError
from gan_engine.testing import ContractViolation, check_discriminator

from .tiny import TINY_DISCRIMINATORS, builtin_names

BUILTIN = sorted(TINY_DISCRIMINATORS)


def test_every_registered_discriminator_has_tiny_arguments() -> None:
    assert builtin_names(ge.discriminators) == BUILTIN


@pytest.mark.parametrize("name", BUILTIN)
def test_discriminator_contract(name: str) -> None:
    check_discriminator(ge.discriminators.get(name), **TINY_DISCRIMINATORS[name])


@pytest.mark.parametrize(("name", "kind"), [("srgan", "image"), ("esrgan", "image"), ("patchgan", "patch"),
                                            ("unet_sn", "pixel")])
def test_declared_output_kinds(name: str, kind: str) -> None:
    cls = ge.discriminators.get(name)
    assert cls.output_kind == kind and cls.returns_features is True


@pytest.mark.parametrize("name", BUILTIN)
def test_conditional_use_is_a_wider_input(name: str) -> None:
    """A conditional task concatenates a 4-band condition to a 4-band image: 8 channels in."""
    d = ge.discriminators.build(name, in_channels=8, **TINY_DISCRIMINATORS[name])
    image, condition = torch.rand(2, 4, 24, 24), torch.rand(2, 4, 24, 24)
    assert d(torch.cat([image, condition], dim=1)).shape[:2] == (2, 1)


@pytest.mark.parametrize("name", BUILTIN)
def test_too_small_input_is_refused_with_the_minimum(name: str) -> None:
    d = ge.discriminators.build(name, in_channels=3, **TINY_DISCRIMINATORS[name])
    small = d.min_size - 1
    with pytest.raises(ShapeError, match=rf"H, W ≥ {d.min_size}, got \(1, 3, {small}, {small}\)"):
        d(torch.rand(1, 3, small, small))


def test_patchgan_map_size_and_norm_choice() -> None:
    d = ge.discriminators.build("patchgan", in_channels=4, base_channels=4, n_layers=3, norm="batch")
    assert d.min_size == 24
    assert d(torch.rand(2, 4, 64, 64)).shape == (2, 1, 6, 6)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    with pytest.raises(ValueError, match="unknown normalisation 'weird'; choose one of batch, instance"):
        ge.discriminators.build("patchgan", norm="weird")


def test_unet_sn_is_spectrally_normalised_by_default_and_handles_odd_sizes() -> None:
    d = ge.discriminators.build("unet_sn", in_channels=3, base_channels=4)
    assert sum(torch.nn.utils.parametrize.is_parametrized(m) for m in d.modules()) == 3 + 3 + 2
    assert d(torch.rand(1, 3, 27, 19)).shape == (1, 1, 27, 19)


def test_spectral_norm_bounds_the_layer_gain() -> None:
    d = ge.discriminators.build("srgan", in_channels=3, base_channels=4, n_stages=2, spectral_norm=True)
    linear = d.head[2]
    for _ in range(20):  # power iteration converges in training mode
        d(torch.rand(2, 3, 16, 16))
    sigma = torch.linalg.matrix_norm(linear.weight.detach(), ord=2)
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_contract_catches_a_discriminator_that_lies_about_its_output() -> None:
    class Liar(torch.nn.Module):
        output_kind = "image"
        returns_features = False

        def __init__(self, in_channels: int = 3) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(in_channels, 1, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)  # a pixel map, not (N, 1)

    with pytest.raises(ContractViolation, match=r"output_kind='image' but input \(2, 1, 16, 16\) gave logits "
                                                r"\(2, 1, 16, 16\)"):
        check_discriminator(Liar)

"""Contract tests generated from the generators registry, plus per-architecture behaviour."""

from __future__ import annotations

import pytest
import torch

import gan_engine as ge
from gan_engine.errors import ShapeError
from gan_engine.testing import ContractViolation, check_generator

from .tiny import TINY_GENERATORS, builtin_names

BUILTIN = sorted(TINY_GENERATORS)


def test_every_registered_generator_has_tiny_arguments() -> None:
    assert builtin_names(ge.generators) == BUILTIN


@pytest.mark.parametrize("name", BUILTIN)
def test_generator_contract(name: str) -> None:
    check_generator(ge.generators.get(name), **TINY_GENERATORS[name])


@pytest.mark.parametrize("name", [n for n in BUILTIN if ge.generators.get(n).input_kind == "image"])
def test_generator_rejects_wrong_band_count(name: str) -> None:
    g = ge.generators.build(name, in_channels=4, **TINY_GENERATORS[name])
    with pytest.raises(ShapeError, match=r"expects \(N, 4, H, W.*got \(1, 3, 16, 16\)"):
        g(torch.rand(1, 3, 16, 16))


@pytest.mark.parametrize("name", ["srresnet", "rrdb", "rcab", "lka", "stochastic"])
def test_unsupported_scale_is_refused_with_choices(name: str) -> None:
    with pytest.raises(ValueError, match="supports scale 1 / 2 / 4 / 8, got 3"):
        ge.generators.build(name, scale=3, **TINY_GENERATORS[name])


def test_stochastic_noise_fixed_is_reproducible_and_different_noise_differs() -> None:
    g = ge.generators.build("stochastic", in_channels=4, scale=2, **TINY_GENERATORS["stochastic"]).eval()
    x = torch.rand(2, 4, 8, 8)
    z1, z2 = g.sample_noise(2), g.sample_noise(2)
    assert torch.equal(g(x, z1), g(x, z1))
    assert not torch.allclose(g(x, z1), g(x, z2))
    assert not torch.allclose(g(x), g(x)), "without noise, fresh noise is drawn on each call"
    with pytest.raises(ShapeError, match=r"noise of shape \(2, 4\).*got \(2, 5\)"):
        g(x, torch.rand(2, 5))


def test_stochastic_sample_noise_follows_a_torch_generator() -> None:
    g = ge.generators.build("stochastic", **TINY_GENERATORS["stochastic"])
    a = g.sample_noise(3, generator=torch.Generator().manual_seed(1))
    b = g.sample_noise(3, generator=torch.Generator().manual_seed(1))
    assert a.shape == (3, 4) and torch.equal(a, b)


def test_unet_takes_conditioning_channels_and_checks_the_size_multiple() -> None:
    g = ge.generators.build("unet", in_channels=5, out_channels=4, **TINY_GENERATORS["unet"])
    assert g.input_multiple == 4 and g.scale == 1
    assert g(torch.rand(2, 5, 12, 20)).shape == (2, 4, 12, 20)
    with pytest.raises(ShapeError, match="multiples of 4"):
        g(torch.rand(2, 5, 10, 12))
    with pytest.raises(ValueError, match="supports scale 1, got 4"):
        ge.generators.build("unet", scale=4)
    with pytest.raises(ValueError, match="unknown output_activation 'relu'; choose one of none, tanh, sigmoid"):
        ge.generators.build("unet", output_activation="relu")


def test_dcgan_class_conditioning() -> None:
    g = ge.generators.build("dcgan", out_channels=6, n_classes=3, **TINY_GENERATORS["dcgan"]).eval()
    z = g.sample_latent(2)
    a = g(z, torch.tensor([0, 1]))
    b = g(z, torch.tensor([2, 1]))
    assert a.shape == (2, 6, 8, 8) and g.latent_dim == 8 and g.input_kind == "latent"
    assert not torch.allclose(a[0], b[0]) and torch.allclose(a[1], b[1])
    assert a.abs().max() <= 1.0, "tanh output by default"
    with pytest.raises(ShapeError, match=r"class-conditional \(n_classes=3\); pass labels of shape \(2,\), got none"):
        g(z)
    unconditional = ge.generators.build("dcgan", **TINY_GENERATORS["dcgan"])
    with pytest.raises(ShapeError, match="unconditional"):
        unconditional(z, torch.tensor([0, 1]))
    assert g(z[:, :, None, None], torch.tensor([0, 1])).shape == (2, 6, 8, 8)
    with pytest.raises(ValueError, match="power of two"):
        ge.generators.build("dcgan", image_size=48)


def test_upsampler_starts_as_nearest_neighbour_thanks_to_icnr() -> None:
    from gan_engine.nn import PixelShuffleUpsampler

    up = PixelShuffleUpsampler(4, 2, torch.nn.Identity)
    y = up(torch.rand(1, 4, 5, 5))
    # ICNR makes the four sub-pixels of every 2x2 output cell identical at initialisation.
    assert torch.allclose(y[..., 0::2, 0::2], y[..., 1::2, 1::2])
    assert torch.allclose(y[..., 0::2, 0::2], y[..., 0::2, 1::2])


def test_receptive_field_grows_with_depth() -> None:
    for name in ("srresnet", "rrdb", "rcab", "lka", "stochastic"):
        small = ge.generators.build(name, **{**TINY_GENERATORS[name], "n_blocks": 1})
        large = ge.generators.build(name, **{**TINY_GENERATORS[name], "n_blocks": 3})
        assert large.receptive_field > small.receptive_field > 1, name


def test_contract_catches_a_generator_with_the_wrong_output_size() -> None:
    class Broken(torch.nn.Module):
        scales = (2,)
        input_multiple, receptive_field = 1, 3

        def __init__(self, in_channels: int = 3, scale: int = 2) -> None:
            super().__init__()
            self.in_channels = self.out_channels = in_channels
            self.scale = scale
            self.conv = torch.nn.Conv2d(in_channels, in_channels, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)  # forgot to upsample

    with pytest.raises(ContractViolation, match=r"Broken: with 1 bands and scale 2: input \(2, 1, 16, 16\) gave "
                                                r"\(2, 1, 16, 16\), expected \(2, 1, 32, 32\)"):
        check_generator(Broken)


def test_contract_catches_missing_metadata_and_unused_parameters() -> None:
    class NoMeta(torch.nn.Module):
        def __init__(self, in_channels: int = 3) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(in_channels, in_channels, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    with pytest.raises(ContractViolation, match="must declare the positive integer attribute 'scale'"):
        check_generator(NoMeta)

    class Unused(NoMeta):
        scale, input_multiple, receptive_field = 1, 1, 1

        def __init__(self, in_channels: int = 3) -> None:
            super().__init__(in_channels)
            self.in_channels = self.out_channels = in_channels
            self.spare = torch.nn.Linear(2, 2)

    with pytest.raises(ContractViolation, match=r"no gradient reached the parameters \['spare.weight'"):
        check_generator(Unused)

"""Normalisers: the contract for every registered one, known values, fitting and errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import gan_engine as ge
from gan_engine.components.normalizers import NormalizerNotFittedError
from gan_engine.components.normalizers.radiometric import zscore_denormalize, zscore_normalize
from gan_engine.errors import ShapeError
from gan_engine.testing import ContractViolation, check_normalizer

from .tiny import builtin_names

REFLECTANCE_DN = torch.rand(3, 6, 8, 8) * 9000 + 500  # Sentinel-2-like digital numbers, 6 bands

CASES: dict[str, tuple[dict[str, Any], torch.Tensor]] = {
    "identity": ({}, torch.rand(2, 4, 8, 8)),
    "scale": ({"factor": 10000.0, "offset": -1000.0}, REFLECTANCE_DN),
    "signed": ({}, torch.rand(2, 13, 8, 8)),
    "zscore": ({}, REFLECTANCE_DN),
    "percentile": ({"percentiles": [1.0, 99.0]}, REFLECTANCE_DN),
    "chain": ({"steps": [{"name": "scale", "factor": 10000.0}, {"name": "zscore"}, "signed"]}, REFLECTANCE_DN),
}


def test_every_registered_normalizer_is_covered() -> None:
    assert builtin_names(ge.normalizers) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_normalizer_contract(name: str) -> None:
    kwargs, sample = CASES[name]
    check_normalizer(ge.normalizers.get(name), sample, atol=1e-2 if name != "signed" else 1e-6, **kwargs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_all_builtins_are_invertible(name: str) -> None:
    assert ge.normalizers.build(name, **CASES[name][0]).invertible is True


def test_known_values() -> None:
    x = torch.tensor([0.0, 0.25, 1.0]).view(1, 3, 1, 1)
    assert torch.equal(ge.normalizers.build("signed").normalize(x).flatten(), torch.tensor([-1.0, -0.5, 1.0]))
    dn = torch.tensor([1000.0, 3000.0, 11000.0]).view(3, 1, 1)
    s2 = ge.normalizers.build("scale", factor=10000, offset=-1000)
    assert torch.allclose(s2.normalize(dn).flatten(), torch.tensor([0.0, 0.2, 1.0]))
    clipped = ge.normalizers.build("scale", factor=10000, clip=True)
    assert clipped.normalize(torch.tensor([[[-5.0]], [[20000.0]]])).flatten().tolist() == [0.0, 1.0]
    z = ge.normalizers.build("zscore", mean=[1.0, 10.0], std=[2.0, 5.0])
    assert torch.allclose(z.normalize(torch.tensor([3.0, 0.0]).view(2, 1, 1)).flatten(), torch.tensor([1.0, -2.0]))
    p = ge.normalizers.build("percentile", low=[0.0, 100.0], high=[10.0, 300.0])
    assert torch.allclose(p.normalize(torch.tensor([5.0, 300.0]).view(2, 1, 1)).flatten(), torch.tensor([0.5, 1.0]))


def test_zscore_fit_estimates_per_band_statistics_from_batches() -> None:
    gen = torch.Generator().manual_seed(0)
    batches = [{"hr": torch.randn(8, 3, 16, 16, generator=gen) * torch.tensor([1.0, 5.0, 0.1]).view(3, 1, 1)
                + torch.tensor([0.0, 100.0, -3.0]).view(3, 1, 1)} for _ in range(4)]
    z = ge.normalizers.build("zscore")
    assert not z.is_fitted
    z.fit(batches, key="hr")
    assert torch.allclose(z.mean.float(), torch.tensor([0.0, 100.0, -3.0]), atol=0.05)
    assert torch.allclose(z.std.float(), torch.tensor([1.0, 5.0, 0.1]), rtol=0.02)
    y = torch.cat([z.normalize(b["hr"]) for b in batches])
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    with pytest.raises(ValueError, match=r"keys \['hr'\]; pass key=\.\.\."):
        ge.normalizers.build("zscore").fit(batches)


def test_percentile_fit_matches_torch_quantile_and_is_reproducible() -> None:
    x = torch.rand(2, 2, 32, 32)
    p = ge.normalizers.build("percentile").fit(x)
    expected = torch.quantile(x.movedim(1, 0).reshape(2, -1).double(), torch.tensor([0.02, 0.98]).double(), dim=1)
    assert torch.allclose(p.low, expected[0]) and torch.allclose(p.high, expected[1])
    a = ge.normalizers.build("percentile", max_samples=100).fit([x, x])
    b = ge.normalizers.build("percentile", max_samples=100).fit([x, x])
    assert torch.equal(a.low, b.low)


def test_functional_core_matches_module() -> None:
    z = ge.normalizers.build("zscore", mean=[1.0, 2.0], std=[3.0, 4.0])
    x = torch.rand(2, 2, 4, 4)
    assert torch.equal(z.normalize(x), zscore_normalize(x, z.mean, z.std))
    assert torch.equal(z.denormalize(x), zscore_denormalize(x, z.mean, z.std))


def test_errors_are_clear() -> None:
    with pytest.raises(NormalizerNotFittedError, match=r"no mean/std statistics yet: give them .* or call \.fit"):
        ge.normalizers.build("zscore").normalize(torch.rand(1, 3, 2, 2))
    z = ge.normalizers.build("zscore", mean=[0.0] * 4, std=[1.0] * 4)
    with pytest.raises(ShapeError, match=r"statistics for 4 bands but got a tensor of shape \(1, 6, 2, 2\)"):
        z.normalize(torch.rand(1, 6, 2, 2))
    with pytest.raises(ValueError, match="give both mean and std"):
        ge.normalizers.build("zscore", mean=[0.0])
    with pytest.raises(ValueError, match="2 and 3 values"):
        ge.normalizers.build("percentile", low=[0.0, 0.0], high=[1.0, 1.0, 1.0])
    with pytest.raises(ge.RegistryError, match=r"unknown name 'scael'\. did you mean 'scale'"):
        ge.normalizers.build("chain", steps=["scael"])


def test_statistics_travel_in_the_state_dict_and_with_the_module() -> None:
    z = ge.normalizers.build("zscore").fit(torch.rand(2, 3, 4, 4))
    holder = torch.nn.Module()
    holder.norm = z
    restored = torch.nn.Module()
    restored.norm = ge.normalizers.build("zscore")
    restored.load_state_dict(holder.state_dict())
    assert restored.norm.is_fitted and torch.equal(restored.norm.mean, z.mean)
    holder.to(torch.float32)
    assert z.mean.dtype == torch.float32


def test_contract_catches_a_normalizer_that_does_not_invert() -> None:
    class Lossy(ge.normalizers.get("identity")):  # type: ignore[misc]
        def normalize(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2

    with pytest.raises(ContractViolation, match=r"denormalize\(normalize\(x\)\) does not give x back"):
        check_normalizer(Lossy)

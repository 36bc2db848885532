"""Contract checks of generators and discriminators, runnable on any component."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gan_engine.testing._common import BAND_COUNTS, Factory, accepts, assert_close, build, fail, grads_ok, same_rng

__all__ = ["check_discriminator", "check_generator"]


def _generator_input(model: Any, batch_size: int, size: int) -> Tensor:
    if getattr(model, "input_kind", "image") == "latent":
        return torch.randn(batch_size, int(model.latent_dim))
    m = int(getattr(model, "input_multiple", 1))
    side = m * math.ceil(size / m)
    return torch.rand(batch_size, int(model.in_channels), side, side)


def _expected_shape(model: Any, x: Tensor) -> tuple[int, ...]:
    if getattr(model, "input_kind", "image") == "latent":
        side = int(getattr(model, "image_size", -1))
        return (x.shape[0], int(model.out_channels), side, side)
    s = int(model.scale)
    return (x.shape[0], int(model.out_channels), x.shape[-2] * s, x.shape[-1] * s)


def _check_generator_meta(model: Any, bands: int, scale: int | None, factory: Factory) -> None:
    for attr in ("scale", "in_channels", "out_channels", "input_multiple", "receptive_field"):
        value = getattr(model, attr, None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise fail(factory, f"must declare the positive integer attribute {attr!r}, got {value!r}")
    if getattr(model, "input_kind", "image") == "image" and model.in_channels != bands:
        raise fail(factory, f"built with in_channels={bands} but declares in_channels={model.in_channels}")
    if scale is not None and model.scale != scale:
        raise fail(factory, f"built with scale={scale} but declares scale={model.scale}")


def _forward(model: nn.Module, x: Tensor, seed: int = 7) -> Tensor:
    with same_rng(seed):  # a generator that draws noise draws the same noise
        out: Tensor = model(x)
    return out


def _check_generator_case(factory: Factory, bands: int, scale: int | None, batch_size: int, size: int,
                          kwargs: dict[str, Any]) -> None:
    model = build(factory, in_channels=bands, out_channels=bands, scale=scale, **kwargs)
    _check_generator_meta(model, bands, scale, factory)
    x = _generator_input(model, batch_size, size)
    y = _forward(model, x)
    if tuple(y.shape) != _expected_shape(model, x):
        raise fail(factory, f"with {bands} bands and scale {scale}: input {tuple(x.shape)} gave "
                            f"{tuple(y.shape)}, expected {_expected_shape(model, x)}")
    if not torch.isfinite(y).all():
        raise fail(factory, f"non-finite output with {bands} bands and scale {scale}")


def _check_generator_training(factory: Factory, bands: int, scale: int | None, batch_size: int, size: int,
                              kwargs: dict[str, Any]) -> None:
    with same_rng(0):
        model = build(factory, in_channels=bands, out_channels=bands, scale=scale, **kwargs)
    with same_rng(0):
        twin = build(factory, in_channels=bands, out_channels=bands, scale=scale, **kwargs)
    for (name, a), b in zip(model.state_dict().items(), twin.state_dict().values()):
        if not torch.equal(a, b):
            raise fail(factory, f"two builds under the same seed differ in {name!r}: initialisation "
                                "must use the global torch RNG only")
    x = _generator_input(model, batch_size, size)
    _forward(model, x).square().mean().backward()
    grads_ok(model, factory)
    with same_rng(99):
        other = build(factory, in_channels=bands, out_channels=bands, scale=scale, **kwargs)
    other.load_state_dict(model.state_dict())
    model.eval(), other.eval()
    with torch.no_grad():
        assert_close(_forward(model, x), _forward(other, x), factory,
                     "a copy loaded from the state dict gives a different output in eval mode")


def check_generator(factory: Factory, *, band_counts: Sequence[int] = BAND_COUNTS,
                    scales: Sequence[int] | None = None, batch_size: int = 2, size: int = 16,
                    **kwargs: Any) -> None:
    """Check that a generator honours the gan_engine contract.

    For every band count and scale: the declared metadata (``scale``, ``in_channels``,
    ``out_channels``, ``input_multiple``, ``receptive_field``), the output shape
    ``(N, out_channels, H·scale, W·scale)`` and a finite output. An output-band override
    (``out_channels`` ≠ ``in_channels``) where accepted. Then, for one configuration: every
    parameter gets a finite gradient, two builds under one seed are identical, and a copy
    loaded from the state dict matches in eval mode. A latent-input generator
    (``input_kind = "latent"``) gets ``(N, latent_dim)`` noise and must declare
    ``image_size``.

    Args:
        factory: the generator class (or any callable returning the module).
        band_counts: band counts to build it with.
        scales: scales to check; default the class's ``scales`` attribute, or its default scale.
        batch_size: images per test batch.
        size: input height and width (rounded up to the declared ``input_multiple``).
        **kwargs: fixed constructor arguments, e.g. tiny widths to keep the check fast.

    Raises:
        ContractViolation: (an ``AssertionError``) naming the component and the broken rule.

    Example:
        >>> from gan_engine.testing import check_generator
        >>> from gan_engine.components.generators.srresnet import SRResNet
        >>> check_generator(SRResNet, n_channels=8, n_blocks=1)
    """
    scale_list: Sequence[int | None] = list(scales or getattr(factory, "scales", None) or [None])
    if not accepts(factory, "scale"):
        scale_list = [None]
    for bands in band_counts:
        for scale in scale_list:
            _check_generator_case(factory, bands, scale, batch_size, size, kwargs)
    if accepts(factory, "out_channels") and getattr(factory, "input_kind", "image") == "image":
        bands, other = band_counts[0], band_counts[0] + 2
        model = build(factory, in_channels=bands, out_channels=other, scale=scale_list[0], **kwargs)
        y = _forward(model, _generator_input(model, 1, size))
        if y.shape[1] != other or model.out_channels != other:
            raise fail(factory, f"out_channels={other} gave {y.shape[1]} output bands (declared {model.out_channels})")
    _check_generator_training(factory, band_counts[-1], scale_list[-1], batch_size, size, kwargs)


def _check_logits(factory: Factory, model: Any, x: Tensor, y: Tensor) -> None:
    kind = getattr(model, "output_kind", None)
    n, _, h, w = x.shape
    expected = {"image": (n, 1), "pixel": (n, 1, h, w)}
    if kind not in ("image", "patch", "pixel"):
        raise fail(factory, f"output_kind must be 'image', 'patch' or 'pixel', got {kind!r}")
    if kind == "patch":
        ok = y.ndim == 4 and tuple(y.shape[:2]) == (n, 1) and min(y.shape[-2:]) > 0
    else:
        ok = tuple(y.shape) == expected[kind]
    if not ok:
        raise fail(factory, f"output_kind={kind!r} but input {tuple(x.shape)} gave logits {tuple(y.shape)}")


def _check_discriminator_case(factory: Factory, bands: int, batch_size: int, size: int | None,
                              kwargs: dict[str, Any]) -> None:
    model = build(factory, in_channels=bands, **kwargs)
    side = size or max(int(getattr(model, "min_size", 1)), 16)
    x = torch.rand(batch_size, bands, side, side)
    y = model(x)
    _check_logits(factory, model, x, y)
    if getattr(model, "returns_features", False):
        model.eval()
        with torch.no_grad():
            out = model(x, return_features=True)
            plain = model(x)
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], list) and out[1]):
            raise fail(factory, "returns_features is True, so forward(x, return_features=True) must return "
                                "(logits, [feature maps])")
        assert_close(out[0], plain, factory, "logits differ with and without return_features")
        if any(f.shape[0] != batch_size for f in out[1]):
            raise fail(factory, "every returned feature map must keep the batch dimension first")
    try:
        model(torch.rand(batch_size, bands + 1, side, side))
    except Exception:
        pass
    else:
        raise fail(factory, f"built for {bands} channels, it silently accepted {bands + 1}")


def check_discriminator(factory: Factory, *, band_counts: Sequence[int] = BAND_COUNTS, batch_size: int = 2,
                        size: int | None = None, **kwargs: Any) -> None:
    """Check that a discriminator honours the gan_engine contract.

    For every band count: logits shaped as its ``output_kind`` says (``"image"`` →
    ``(N, 1)``, ``"patch"`` → ``(N, 1, h, w)``, ``"pixel"`` → ``(N, 1, H, W)``);
    ``forward(x, return_features=True)`` returning ``(logits, [features])`` when
    ``returns_features``; an error for a wrong channel count. Then: finite gradients for
    every parameter, a state-dict round trip, and, when it takes ``spectral_norm``, a
    spectrally normalised build that runs.

    Args:
        factory: the discriminator class (or any callable returning the module).
        band_counts: channel counts to build it with.
        batch_size: images per test batch.
        size: input height and width; default ``max(min_size, 16)``.
        **kwargs: fixed constructor arguments (tiny widths).

    Raises:
        ContractViolation: naming the component and the broken rule.
    """
    for bands in band_counts:
        _check_discriminator_case(factory, bands, batch_size, size, kwargs)
    bands = band_counts[-1]
    with same_rng(0):
        model = build(factory, in_channels=bands, **kwargs)
    side = size or max(int(getattr(model, "min_size", 1)), 16)
    x = torch.rand(batch_size, bands, side, side)
    model(x).square().mean().backward()
    grads_ok(model, factory)
    with same_rng(5):
        other = build(factory, in_channels=bands, **kwargs)
    other.load_state_dict(model.state_dict())
    model.eval(), other.eval()
    with torch.no_grad():
        assert_close(model(x), other(x), factory, "a copy loaded from the state dict gives different logits")
    if accepts(factory, "spectral_norm"):
        sn = build(factory, in_channels=bands, **{**kwargs, "spectral_norm": True})
        if not any(parametrize.is_parametrized(m) for m in sn.modules()):
            raise fail(factory, "spectral_norm=True left every layer without a spectral-norm parametrisation")
        _check_logits(factory, sn, x, sn(x))

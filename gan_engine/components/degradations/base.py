"""The interface of a degradation model: how low-resolution training inputs are made.

A degradation is an :class:`torch.nn.Module` registered in :data:`gan_engine.degradations`
whose constructor takes the super-resolution ``scale``. It works in three steps, so that
randomness is reproducible and the heavy work runs batched on the training device:

1. :meth:`Degradation.sample` draws one sample's random parameters, on the CPU, from the
   data set's seeded generator (inside the data set, in loader workers). Validation
   samples therefore get the same degradation on every run, and a resumed run the same
   degradations it would have had.
2. :meth:`Degradation.plan` turns a collated batch of parameters into what the device
   step needs, still on the CPU (before the host-to-device copy): choices a whole batch
   must share, such as an intermediate image size, are taken here without a host sync.
3. :meth:`Degradation.forward` degrades the ``(N, C, H, W)`` batch on its device and
   returns ``(N, C, H/scale, W/scale)``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any, cast

import torch
from torch import Tensor, nn

from gan_engine.errors import ConfigError, ConfigIssue, did_you_mean
from gan_engine.registry import degradations

__all__ = ["Degradation", "build_degradation", "degradation_problems", "degradation_spec"]


class Degradation(nn.Module, abc.ABC):
    """Base class of degradation models; see the module docstring.

    A subclass must implement :meth:`degrade` (a class without it cannot be built, so a
    plugin that forgets it fails when the data module is made, before training).

    Args:
        scale: downsampling factor (``Task.scale``), filled in from the config.
    """

    def __init__(self, scale: int) -> None:
        super().__init__()
        if not isinstance(scale, int) or scale < 1:
            raise ValueError(f"a degradation needs an integer scale ≥ 1, got {scale!r}")
        self.scale = scale

    def sample(self, bands: int, height: int, width: int, rng: torch.Generator | None = None) -> dict[str, Tensor]:
        """Random parameters for one ``(bands, height, width)`` HR sample (CPU tensors)."""
        params = self.sample_batch(1, bands, height, width, rng=rng)
        return {k: v[0] for k, v in params.items()}

    def sample_batch(self, n: int, bands: int, height: int, width: int, rng: torch.Generator | None = None,
                     device: torch.device | None = None) -> dict[str, Tensor]:
        """Random parameters for ``n`` HR samples; the default model has none."""
        return {}

    def plan(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Batch-level decisions from collated CPU parameters (before the copy to the device)."""
        return dict(params)

    @abc.abstractmethod
    def degrade(self, hr: Tensor, params: Mapping[str, Any]) -> Tensor:
        """Degrade ``hr`` with planned parameters."""

    def forward(self, hr: Tensor, params: Mapping[str, Any] | None = None) -> Tensor:
        """Degrade ``(N, C, H, W)`` HR images.

        Args:
            hr: the HR batch; ``H`` and ``W`` multiples of ``scale``.
            params: the collated per-sample parameters of :meth:`sample` (planned or not);
                when ``None``, they are drawn here, on the device, from the global generator.
        """
        if hr.ndim != 4 or hr.shape[-2] % self.scale or hr.shape[-1] % self.scale:
            raise ValueError(f"{type(self).__name__} needs (N, C, H, W) images with H and W multiples of the "
                             f"scale {self.scale}, got shape {tuple(hr.shape)}")
        if params is None:
            n, c, h, w = hr.shape
            params = self.sample_batch(n, c, h, w, device=hr.device)
        if not params.get("_planned", False):
            params = self.plan(params)
        return self.degrade(hr, params)


def degradation_spec(spec: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """``(registry name, parameters)`` of a ``Data.degradation`` mapping; the name defaults to ``classic``."""
    params = dict(spec or {})
    return str(params.pop("name", "classic")), params


def build_degradation(scale: int, spec: Mapping[str, Any] | None) -> Degradation:
    """The :data:`gan_engine.degradations` model for ``scale`` from the ``Data.degradation`` mapping.

    Raises:
        ConfigError: naming the unknown model, the unknown or invalid key.
    """
    name, params = degradation_spec(spec)
    issues = degradation_problems(scale, spec)
    if issues:
        raise ConfigError(issues)
    try:
        return cast(Degradation, degradations.build(name, scale=scale, **params))
    except ValueError as exc:
        raise ConfigError([ConfigIssue("Data.degradation", str(exc))]) from exc


def degradation_problems(scale: int | None, spec: Any, path: str = "Data.degradation") -> list[ConfigIssue]:
    """What is wrong with a ``Data.degradation`` mapping (its model name and parameters), as config issues."""
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        return [ConfigIssue(path, f"must be a mapping such as {{name: second_order}}, got {spec!r}")]
    name, params = degradation_spec(spec)
    if name not in degradations:
        hint = did_you_mean(name, degradations.names())
        return [ConfigIssue(f"{path}.name", f"no degradation is named {name!r}" + (f"; {hint}" if hint else "")
                            + f" Available: {', '.join(degradations.names())}.")]
    given = {**params, "scale": scale if scale is not None else 1}
    problems = [ConfigIssue(f"{path}.{key}", msg) for key, msg in degradations.check_params(name, given)]
    if not problems:  # the model's own checks (ranges in order, ...); building one is cheap
        try:
            degradations.build(name, **given)
        except (ValueError, TypeError) as exc:
            problems.append(ConfigIssue(path, str(exc)))
    return problems

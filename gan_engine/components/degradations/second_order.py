r"""The second-order degradation model of real-world super-resolution (Real-ESRGAN's recipe).

Real low-resolution images went through a camera, a resize, a codec and often all of these
twice (an image downloaded, edited and uploaded again). The model applies two rounds of

.. math:: x \;\to\; (x \ast k) \;\to\; \text{resize}_{r} \;\to\; + n \;\to\; \text{JPEG}_q

and ends with a resize to the LR size, a sinc filter (ringing and overshoot) and a last
JPEG, the last two in random order. Per round: a blur kernel ``k`` from
:func:`~gan_engine.components.degradations.kernels.random_kernels` (isotropic and
anisotropic Gaussian, generalised Gaussian, plateau or sinc), a random resize up, down or
kept (area, bilinear or bicubic, without antialiasing, so it can alias as real resizers
do), Gaussian or Poisson noise (the same on every band, "grey", or independent per band,
"colour"), and JPEG artefacts (:func:`~gan_engine.components.degradations.jpeg.jpeg`; band by
band for other than three bands). The defaults are the published recipe's probabilities
and ranges, with noise levels in data units of a ``[0, 1]`` ``value_range`` (the recipe's
``[1, 30]`` of 255 levels is ``[0.0039, 0.118]``).

Per sample, from the data set's seeded generator: the three kernels, whether the second
blur happens, noise kind, level and colour, JPEG qualities, and a noise seed. Per batch,
because a batch has one size at each stage: the two resize factors and modes, the final
resize mode and the order of the final steps, taken from the batch's first sample, as the
recipe does; the noise of a batch comes from a device generator seeded by its samples'
seeds. Validation batches are therefore the same on every run, and resumed runs exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gan_engine.components.degradations.base import Degradation
from gan_engine.components.degradations.jpeg import jpeg
from gan_engine.components.degradations.kernels import identity_kernels, random_kernels, sinc_kernels
from gan_engine.params import Fraction, NonNegativeFloat, PositiveFloat, PositiveInt, Range
from gan_engine.registry import degradations

__all__ = ["SecondOrderDegradation"]

ResizeMode = Literal["area", "bilinear", "bicubic"]
Quality = Annotated[float, Range(ge=1, le=100)]
_SEED_BOUND = 2**31 - 1


def _check_range(name: str, value: Sequence[float], lo: float = 0.0) -> tuple[float, float]:
    if len(value) != 2 or not lo <= value[0] <= value[1]:
        raise ValueError(f"second_order {name} must be a range [lo, hi] with {lo:g} ≤ lo ≤ hi, got {list(value)}")
    return float(value[0]), float(value[1])


def _check_probabilities(name: str, value: Sequence[float], n: int) -> tuple[float, ...]:
    if len(value) != n or any(v < 0 for v in value) or sum(value) <= 0:
        raise ValueError(f"second_order {name} needs {n} non-negative probabilities with a positive sum, "
                         f"got {list(value)}")
    return tuple(float(v) / sum(value) for v in value)


@degradations.register("second_order")
class SecondOrderDegradation(Degradation):
    """Two rounds of blur, resize, noise and JPEG, then resize, sinc and JPEG; see the module docstring.

    Args:
        scale: downsampling factor (``Task.scale``).
        kernel_sizes: odd window sides the blur kernels are drawn from.
        kernel_probabilities: probabilities of iso, aniso, generalized_iso,
            generalized_aniso, plateau_iso and plateau_aniso kernels.
        blur_sigma: sigma range of the first blur, in pixels.
        blur_sigma2: sigma range of the second blur.
        beta_generalized: exponent range of generalised Gaussian kernels.
        beta_plateau: exponent range of plateau kernels.
        sinc_prob: probability that the first round's blur is a sinc kernel.
        sinc_prob2: the same for the second round.
        second_blur_prob: probability that the second round blurs at all.
        resize_probabilities: probabilities of up, down and keep in the first round.
        resize_probabilities2: the same for the second round.
        resize_range: factor range of the first round's random resize.
        resize_range2: factor range of the second round's, relative to the LR size.
        resize_modes: interpolation modes the resizes draw from.
        gaussian_noise_prob: probability of Gaussian (else Poisson) noise in the first round.
        gaussian_noise_prob2: the same for the second round.
        noise_range: Gaussian noise standard deviations of the first round, in data units.
        noise_range2: the same for the second round.
        poisson_scale: Poisson noise scales of the first round (1: shot noise of 255 levels).
        poisson_scale2: the same for the second round.
        gray_noise_prob: probability that the first round's noise is the same on every band.
        gray_noise_prob2: the same for the second round.
        jpeg_range: JPEG quality range of the first round.
        jpeg_range2: JPEG quality range of the second round.
        jpeg_prob: probability that the first round compresses.
        jpeg_prob2: the same for the second round.
        final_sinc_prob: probability of the final sinc filter.
        value_range: data units of black and white: values are clipped to it, and it maps
            to JPEG's 8-bit range.
        quantize: levels over ``value_range`` the LR image is rounded to (255 for 8-bit
            images), or ``None`` for no rounding.
        bicubic_prob: probability that a sample gets plain antialiased bicubic
            downsampling instead (0 in the published recipe); mixing clean inputs in keeps a
            model good on lightly degraded images too.
    """

    def __init__(self, scale: PositiveInt, *,
                 kernel_sizes: Sequence[Annotated[int, Range(ge=1, le=41)]] = (7, 9, 11, 13, 15, 17, 19, 21),
                 kernel_probabilities: Sequence[NonNegativeFloat] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03),
                 blur_sigma: Sequence[NonNegativeFloat] = (0.2, 3.0),
                 blur_sigma2: Sequence[NonNegativeFloat] = (0.2, 1.5),
                 beta_generalized: Sequence[PositiveFloat] = (0.5, 4.0),
                 beta_plateau: Sequence[PositiveFloat] = (1.0, 2.0),
                 sinc_prob: Fraction = 0.1, sinc_prob2: Fraction = 0.1, second_blur_prob: Fraction = 0.8,
                 resize_probabilities: Sequence[NonNegativeFloat] = (0.2, 0.7, 0.1),
                 resize_probabilities2: Sequence[NonNegativeFloat] = (0.3, 0.4, 0.3),
                 resize_range: Sequence[PositiveFloat] = (0.15, 1.5),
                 resize_range2: Sequence[PositiveFloat] = (0.3, 1.2),
                 resize_modes: Sequence[ResizeMode] = ("area", "bilinear", "bicubic"),
                 gaussian_noise_prob: Fraction = 0.5, gaussian_noise_prob2: Fraction = 0.5,
                 noise_range: Sequence[NonNegativeFloat] = (1 / 255, 30 / 255),
                 noise_range2: Sequence[NonNegativeFloat] = (1 / 255, 25 / 255),
                 poisson_scale: Sequence[NonNegativeFloat] = (0.05, 3.0),
                 poisson_scale2: Sequence[NonNegativeFloat] = (0.05, 2.5),
                 gray_noise_prob: Fraction = 0.4, gray_noise_prob2: Fraction = 0.4,
                 jpeg_range: Sequence[Quality] = (30, 95), jpeg_range2: Sequence[Quality] = (30, 95),
                 jpeg_prob: Fraction = 1.0, jpeg_prob2: Fraction = 1.0, final_sinc_prob: Fraction = 0.8,
                 value_range: Sequence[float] = (0.0, 1.0), quantize: PositiveInt | None = 255,
                 bicubic_prob: Fraction = 0.0) -> None:
        super().__init__(scale)
        if not kernel_sizes or any(k % 2 == 0 or k < 1 for k in kernel_sizes):
            raise ValueError(f"second_order kernel_sizes must be odd positive sides, got {list(kernel_sizes)}")
        if not resize_modes:
            raise ValueError("second_order resize_modes needs at least one of 'area', 'bilinear', 'bicubic'")
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.grid = max(self.kernel_sizes)
        self.kernel_probabilities = _check_probabilities("kernel_probabilities", kernel_probabilities, 6)
        self.blur_sigma = _check_range("blur_sigma", blur_sigma)
        self.blur_sigma2 = _check_range("blur_sigma2", blur_sigma2)
        self.beta_generalized = _check_range("beta_generalized", beta_generalized, 1e-3)
        self.beta_plateau = _check_range("beta_plateau", beta_plateau, 1e-3)
        self.resize_probabilities = _check_probabilities("resize_probabilities", resize_probabilities, 3)
        self.resize_probabilities2 = _check_probabilities("resize_probabilities2", resize_probabilities2, 3)
        self.resize_range = _check_range("resize_range", resize_range, 1e-3)
        self.resize_range2 = _check_range("resize_range2", resize_range2, 1e-3)
        self.resize_modes = tuple(resize_modes)
        self.noise_range, self.noise_range2 = _check_range("noise_range", noise_range), _check_range(
            "noise_range2", noise_range2)
        self.poisson_scale, self.poisson_scale2 = _check_range("poisson_scale", poisson_scale), _check_range(
            "poisson_scale2", poisson_scale2)
        self.jpeg_range, self.jpeg_range2 = _check_range("jpeg_range", jpeg_range, 1), _check_range(
            "jpeg_range2", jpeg_range2, 1)
        lo, hi = (float(v) for v in value_range)
        if not lo < hi:
            raise ValueError(f"second_order value_range must be [black, white] with black < white, got {[lo, hi]}")
        self.value_range = (lo, hi)
        self.sinc_prob, self.sinc_prob2, self.second_blur_prob = sinc_prob, sinc_prob2, second_blur_prob
        self.gaussian_noise_prob, self.gaussian_noise_prob2 = gaussian_noise_prob, gaussian_noise_prob2
        self.gray_noise_prob, self.gray_noise_prob2 = gray_noise_prob, gray_noise_prob2
        self.jpeg_prob, self.jpeg_prob2, self.final_sinc_prob = jpeg_prob, jpeg_prob2, final_sinc_prob
        self.quantize, self.bicubic_prob = quantize, bicubic_prob

    # -- per-sample parameters (CPU, the data set's generator) -------------------------
    def _kernels(self, n: int, sigma: tuple[float, float], sinc_prob: float, rng: torch.Generator | None,
                 device: torch.device | None) -> Tensor:
        return random_kernels(n, self.grid, sizes=self.kernel_sizes, probabilities=self.kernel_probabilities,
                              sigma=sigma, beta_generalized=self.beta_generalized, beta_plateau=self.beta_plateau,
                              sinc_prob=sinc_prob, rng=rng, device=device)

    def _noise(self, n: int, gaussian_prob: float, std: tuple[float, float], poisson: tuple[float, float],
               gray_prob: float, rng: torch.Generator | None, device: torch.device | None) -> Tensor:
        """``(n, 4)``: is Gaussian, Gaussian std, Poisson scale, is grey."""
        u = torch.rand(n, 4, generator=rng, device=device)
        return torch.stack([(u[:, 0] < gaussian_prob).float(), std[0] + (std[1] - std[0]) * u[:, 1],
                            poisson[0] + (poisson[1] - poisson[0]) * u[:, 2], (u[:, 3] < gray_prob).float()], 1)

    def _resize(self, n: int, probabilities: tuple[float, ...], factors: tuple[float, float],
                rng: torch.Generator | None, device: torch.device | None) -> Tensor:
        """``(n, 2)``: resize factor, mode index."""
        direction = torch.multinomial(torch.tensor(probabilities, device=device), n, replacement=True, generator=rng)
        u = torch.rand(n, generator=rng, device=device)
        up = 1 + (max(factors[1], 1.0) - 1) * u
        down = min(factors[0], 1.0) + (1 - min(factors[0], 1.0)) * u
        factor = torch.where(direction == 0, up, torch.where(direction == 1, down, torch.ones_like(u)))
        mode = torch.randint(len(self.resize_modes), (n,), generator=rng, device=device).float()
        return torch.stack([factor, mode], 1)

    def sample_batch(self, n: int, bands: int, height: int, width: int, rng: torch.Generator | None = None,
                     device: torch.device | None = None) -> dict[str, Tensor]:
        """Random parameters for ``n`` HR samples (kernels, noise, JPEG, resizes, seeds)."""
        def u(lo_hi: tuple[float, float]) -> Tensor:
            return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * torch.rand(n, generator=rng, device=device)

        kernel2 = self._kernels(n, self.blur_sigma2, self.sinc_prob2, rng, device)
        blur2 = (torch.rand(n, generator=rng, device=device) < self.second_blur_prob)[:, None, None]
        omega = u((torch.pi / 3, torch.pi))
        final = sinc_kernels(omega, self.grid, self._window(n, rng, device))
        final_on = (torch.rand(n, generator=rng, device=device) < self.final_sinc_prob)[:, None, None]
        identity = identity_kernels(n, self.grid, device)
        jpeg_on = torch.rand(n, 2, generator=rng, device=device) < torch.tensor([self.jpeg_prob, self.jpeg_prob2],
                                                                                device=device)
        return {
            "kernel1": self._kernels(n, self.blur_sigma, self.sinc_prob, rng, device),
            "kernel2": torch.where(blur2, kernel2, identity),
            "kernel_final": torch.where(final_on, final, identity),
            "noise1": self._noise(n, self.gaussian_noise_prob, self.noise_range, self.poisson_scale,
                                  self.gray_noise_prob, rng, device),
            "noise2": self._noise(n, self.gaussian_noise_prob2, self.noise_range2, self.poisson_scale2,
                                  self.gray_noise_prob2, rng, device),
            # quality 0 marks "no compression" for that sample
            "jpeg": torch.stack([u(self.jpeg_range), u(self.jpeg_range2)], 1) * jpeg_on,
            "resize1": self._resize(n, self.resize_probabilities, self.resize_range, rng, device),
            "resize2": self._resize(n, self.resize_probabilities2, self.resize_range2, rng, device),
            "final": torch.rand(n, 2, generator=rng, device=device),  # final mode, order
            "seed": torch.randint(_SEED_BOUND, (n,), generator=rng, device=device),
            "bicubic": torch.rand(n, generator=rng, device=device) < self.bicubic_prob,
        }

    def _window(self, n: int, rng: torch.Generator | None, device: torch.device | None) -> Tensor:
        sizes = torch.tensor(self.kernel_sizes, device=device)
        return sizes[torch.randint(len(sizes), (n,), generator=rng, device=device)]

    # -- batch decisions (CPU, before the copy) ----------------------------------------
    def plan(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The batch's resizes, final mode and order (from its first sample) and its noise seed.

        Called on the CPU by the data module before the batch is copied to the device;
        on device tensors it works too, at the price of one host sync.
        """
        out = dict(params)
        first = {k: out.pop(k)[0].tolist() for k in ("resize1", "resize2", "final")}
        seeds = out.pop("seed").long().cpu()
        weights = torch.arange(1, seeds.numel() + 1, dtype=torch.long)
        out["noise_seed"] = int((seeds.reshape(-1) * weights).sum()) % _SEED_BOUND
        mode = self.resize_modes
        out["resize1"] = (float(first["resize1"][0]), mode[int(first["resize1"][1])])
        out["resize2"] = (float(first["resize2"][0]), mode[int(first["resize2"][1])])
        out["final_mode"] = mode[min(int(first["final"][0] * len(mode)), len(mode) - 1)]
        out["sinc_first"] = bool(first["final"][1] < 0.5)
        out["_planned"] = True
        return out

    # -- the device step ---------------------------------------------------------------
    def degrade(self, hr: Tensor, params: Mapping[str, Any]) -> Tensor:
        lo, hi = self.value_range
        g = torch.Generator(device=hr.device)
        g.manual_seed(int(params["noise_seed"]))
        lr_size = (hr.shape[-2] // self.scale, hr.shape[-1] // self.scale)
        x = hr.float().clamp(lo, hi)
        # round 1
        x = _blur(x, params["kernel1"])
        factor, mode = params["resize1"]
        x = _resize(x, (max(1, int(x.shape[-2] * factor)), max(1, int(x.shape[-1] * factor))), mode)
        x = self._add_noise(x, params["noise1"], g)
        x = self._jpeg(x, params["jpeg"][:, 0])
        # round 2
        x = _blur(x, params["kernel2"])
        factor, mode = params["resize2"]
        x = _resize(x, (max(1, int(lr_size[0] * factor)), max(1, int(lr_size[1] * factor))), mode)
        x = self._add_noise(x, params["noise2"], g)
        # final resize + sinc and JPEG, in the batch's order
        if params["sinc_first"]:
            x = _blur(_resize(x, lr_size, params["final_mode"]), params["kernel_final"])
            x = self._jpeg(x, params["jpeg"][:, 1])
        else:
            x = self._jpeg(x, params["jpeg"][:, 1])
            x = _blur(_resize(x, lr_size, params["final_mode"]), params["kernel_final"])
        if "bicubic" in params:
            clean = F.interpolate(hr.float(), size=lr_size, mode="bicubic", antialias=True, align_corners=False)
            x = torch.where(params["bicubic"][:, None, None, None], clean, x)
        x = x.clamp(lo, hi)
        if self.quantize is not None:
            span = hi - lo
            x = torch.round((x - lo) / span * self.quantize) / self.quantize * span + lo
        return x.to(hr.dtype)

    def _add_noise(self, x: Tensor, noise: Tensor, g: torch.Generator) -> Tensor:
        lo, hi = self.value_range
        span = hi - lo
        n = x.shape[0]
        gaussian, std, poisson_scale, gray = (noise[:, i, None, None, None].to(x.dtype) for i in range(4))
        colour = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
        mono = torch.randn((n, 1, *x.shape[-2:]), generator=g, device=x.device, dtype=x.dtype)
        gauss = torch.where(gray > 0, mono, colour) * std
        unit = ((x - lo) / span).clamp(0, 1)
        levels = 255.0
        shot_colour = torch.poisson(unit * levels, generator=g) / levels - unit
        grey = unit.mean(1, keepdim=True)
        shot_grey = torch.poisson(grey * levels, generator=g) / levels - grey
        shot = torch.where(gray > 0, shot_grey.expand_as(unit), shot_colour) * poisson_scale * span
        return (x + torch.where(gaussian > 0, gauss, shot)).clamp(lo, hi)

    def _jpeg(self, x: Tensor, quality: Tensor) -> Tensor:
        on = quality > 0
        compressed = jpeg(x, quality.clamp_min(1), self.value_range)
        return torch.where(on[:, None, None, None], compressed, x)


def _blur(x: Tensor, kernels: Tensor) -> Tensor:
    import kornia  # imported on first use: `import gan_engine` stays light

    half = kernels.shape[-1] // 2
    border = "reflect" if min(x.shape[-2:]) > half else "replicate"
    return kornia.filters.filter2d(x, kernels.to(x.dtype), border_type=border)


def _resize(x: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)

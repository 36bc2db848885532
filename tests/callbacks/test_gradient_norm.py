"""Gradient norms per network, before and after clipping, only at the logging cadence."""

from __future__ import annotations

import warnings

import pytest
import torch
from engine_helpers import MemoryLogger, fit, tiny_module

import gan_engine as ge
from gan_engine.components.callbacks import gradient_norm as gn


def test_norms_are_computed_and_logged_only_on_logging_iterations(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = gn.total_grad_norm

    def counting(optimizer: torch.optim.Optimizer) -> torch.Tensor | None:
        calls.append(1)
        return real(optimizer)

    monkeypatch.setattr(gn, "total_grad_norm", counting)
    module = tiny_module({"Training.max_steps": 6, "Training.pretrain_steps": 1,
                          "Training.Stability.gradient_clip_val": 0.05})
    logger = MemoryLogger()
    fit(module, logger=logger, log_every_n_steps=3)
    # iterations 3 and 6 log: G and D, before and after clipping: 2 × 4 computations, none elsewhere
    assert len(calls) == 8
    rows = [row for _, row in logger.rows if "grad_norm/generator/before_clip" in row]
    assert len(rows) == 2
    for row in rows:
        for net in ("generator", "discriminator"):
            assert row[f"grad_norm/{net}/after_clip"] <= 0.05 * (1 + 1e-4)
            assert row[f"grad_norm/{net}/before_clip"] >= row[f"grad_norm/{net}/after_clip"]


def test_the_lazy_regularizer_step_is_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    phases: list[str] = []
    real = gn.total_grad_norm

    def recording(optimizer: torch.optim.Optimizer) -> torch.Tensor | None:
        phases.append(str(module.current_phase))
        return real(optimizer)

    monkeypatch.setattr(gn, "total_grad_norm", recording)
    module = tiny_module({"Training.max_steps": 3, "Training.Stability.r1_gamma": 10.0,
                          "Training.Stability.d_reg_every": 2})
    fit(module)
    assert "regularizer" not in phases
    assert phases.count("discriminator") == 2 * 2 and phases.count("generator") == 2 * 3  # before and after


def test_warns_once_above_the_threshold() -> None:
    module = tiny_module({"Training.max_steps": 4, "Callbacks.gradient_norm.warn_above": 1e-9})
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(module)
    big = [w for w in record if "large gradient norms" in str(w.message)]
    assert len(big) == 1 and "Callbacks.gradient_norm.warn_above" in str(big[0].message)


def test_registered_and_its_warning_state_persists() -> None:
    cb = ge.callbacks.build("gradient_norm", warn_above=5.0)
    assert isinstance(cb, gn.GradientNormMonitor) and cb.warn_above == 5.0
    cb._warned = True
    fresh = gn.GradientNormMonitor()
    fresh.load_state_dict(cb.state_dict())
    assert fresh._warned

"""GAN health: mean discriminator scores and the collapse warning."""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from engine_helpers import MemoryLogger, fit, tiny_module

import gan_engine as ge
from gan_engine.components.callbacks.gan_health import GANHealthMonitor


class _Module:
    def __init__(self, critic: bool = False) -> None:
        self.adversarial = SimpleNamespace(is_critic=critic)
        self.logged: list[dict[str, Any]] = []

    def log_dict(self, values: dict[str, Any], **kwargs: Any) -> None:
        self.logged.append({k: float(v) for k, v in values.items()})


def _trainer(logging: bool = True) -> Any:
    return SimpleNamespace(_logger_connector=SimpleNamespace(should_update_logs=logging))


def _feed(cb: GANHealthMonitor, module: _Module, real: float, fake: float, n: int, logging: bool = True) -> list[str]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(n):
            out = {"real_scores": torch.full((4, 1), real), "fake_scores": torch.full((4, 1), fake)}
            cb.on_train_batch_end(_trainer(logging), module, out, None, 0)  # type: ignore[arg-type]
    return [str(w.message) for w in record if "won outright" in str(w.message)]


def test_collapse_warning_after_the_configured_patience_once_per_episode() -> None:
    cb, module = GANHealthMonitor(collapse_patience=5, collapse_margin=0.9), _Module()
    assert _feed(cb, module, real=5.0, fake=-5.0, n=4) == []
    assert len(_feed(cb, module, real=5.0, fake=-5.0, n=10)) == 1
    assert _feed(cb, module, real=0.1, fake=-0.1, n=1) == []  # the streak breaks
    assert len(_feed(cb, module, real=5.0, fake=-5.0, n=5)) == 1  # a new episode warns again
    assert module.logged[-1]["health/d_real"] == pytest.approx(torch.sigmoid(torch.tensor(5.0)).item())


def test_streak_is_counted_on_every_iteration_but_read_only_when_logging() -> None:
    cb, module = GANHealthMonitor(collapse_patience=3), _Module()
    assert _feed(cb, module, real=9.0, fake=-9.0, n=5, logging=False) == []
    assert module.logged == []
    assert len(_feed(cb, module, real=9.0, fake=-9.0, n=1)) == 1  # the streak (6) is read at the next log


def test_critics_are_reported_raw_without_a_collapse_test() -> None:
    cb, module = GANHealthMonitor(collapse_patience=1), _Module(critic=True)
    assert _feed(cb, module, real=50.0, fake=-50.0, n=3) == []
    assert module.logged[-1] == {"health/critic_real": 50.0, "health/critic_fake": -50.0, "health/critic_gap": 100.0}


def test_no_scores_without_a_discriminator_step() -> None:
    cb, module = GANHealthMonitor(), _Module()
    cb.on_train_batch_end(_trainer(), module, {"real_scores": None}, None, 0)  # type: ignore[arg-type]
    cb.on_train_batch_end(_trainer(), module, {}, None, 0)  # type: ignore[arg-type]
    assert module.logged == []


def test_streak_survives_a_checkpoint_and_bad_margins_are_refused() -> None:
    cb, module = GANHealthMonitor(collapse_patience=4), _Module()
    _feed(cb, module, real=9.0, fake=-9.0, n=3)
    fresh = GANHealthMonitor(collapse_patience=4)
    fresh.load_state_dict(cb.state_dict())
    assert len(_feed(fresh, module, real=9.0, fake=-9.0, n=1)) == 1
    with pytest.raises(ValueError, match=r"collapse_margin must be in \(0.5, 1\)"):
        GANHealthMonitor(collapse_margin=0.2)


def test_scores_are_logged_during_training_after_pretraining() -> None:
    module = tiny_module({"Training.max_steps": 3, "Training.pretrain_steps": 1})
    logger = MemoryLogger()
    fit(module, logger=logger)
    assert "health/d_real" not in logger.rows[0][1]
    assert all(0 < row["health/d_real"] < 1 and 0 < row["health/d_fake"] < 1 for _, row in logger.rows[1:])
    assert isinstance(ge.callbacks.build("gan_health"), GANHealthMonitor)

"""Shared fixtures: registries isolated per test, deterministic seeds, no plugin surprises."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from gan_engine.registry import isolated_registries


@pytest.fixture(autouse=True)
def _isolated_registries() -> Iterator[None]:
    """Each test sees the registries as they were before it; its registrations vanish after."""
    with isolated_registries():
        yield


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)

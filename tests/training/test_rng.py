"""Random states survive a checkpoint in weights-only-loadable types."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from gan_engine.training.rng import capture_rng, restore_rng


def test_capture_and_restore_every_generator(tmp_path: Path) -> None:
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    np.random.standard_normal()  # leave a cached gaussian in numpy's state
    path = tmp_path / "rng.pt"
    torch.save(capture_rng(), path)
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], np.random.standard_normal())
    restore_rng(torch.load(path, weights_only=True))
    got = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)], np.random.standard_normal())
    assert torch.equal(expected[0], got[0]) and np.array_equal(expected[1], got[1])
    assert expected[2] == got[2] and expected[3] == got[3]

"""Atomic checkpoint writes: a failed write leaves the previous file intact and no debris."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from gan_engine.components.callbacks.checkpoints import AtomicCheckpointIO
from gan_engine.errors import CheckpointError


def test_a_checkpoint_round_trips(tmp_path: Path) -> None:
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state": torch.arange(3)}, tmp_path / "ckpts" / "last.ckpt")
    assert torch.equal(io.load_checkpoint(tmp_path / "ckpts" / "last.ckpt")["state"], torch.arange(3))


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"iteration": 1}, path)
    before = path.read_bytes()
    real_save = torch.save

    def half_then_crash(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        real_save(obj, f, *args, **kwargs)
        f.truncate(10)  # half a file on disk, then the disk "fills up"
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_crash)
    with pytest.raises(CheckpointError, match=r"no space left on the device .* previous last\.ckpt is intact") as err:
        io.save_checkpoint({"iteration": 2}, path)
    assert isinstance(err.value.__cause__, OSError)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # the temporary file is gone
    monkeypatch.setattr(torch, "save", real_save)
    assert io.load_checkpoint(path)["iteration"] == 1

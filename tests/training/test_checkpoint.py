"""Reading checkpoints safely, and rebuilding the generator from a checkpoint alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from engine_helpers import SaveAt, callback, fit, tiny_module

import gan_engine as ge
from gan_engine.checkpoint import read_checkpoint
from gan_engine.errors import CheckpointError
from gan_engine.inference import load_normalizers


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    tmp = tmp_path_factory.mktemp("ckpt")
    module = tiny_module({"Training.max_steps": 4, "Training.EMA.decay": 0.5, "Training.EMA.warmup": "none"})
    tr = fit(module, tmp, callbacks=[SaveAt(4, tmp / "last.ckpt")])
    ema = callback(tr, "EMA")
    live = {k: v.detach().clone() for k, v in module.generator.state_dict().items()}
    return tmp / "last.ckpt", live, {k: v.clone() for k, v in ema.shadow(module).items()}


def test_load_generator_returns_the_ema_weights_in_eval_mode(trained) -> None:  # type: ignore[no-untyped-def]
    path, live, shadow = trained
    generator = ge.load_generator(path)
    assert isinstance(generator, ge.generators.get("srresnet")) and not generator.training
    params = dict(generator.named_parameters())
    assert all(torch.equal(params[k], shadow[k]) for k in shadow)
    assert any(not torch.equal(params[k], live[k]) for k in shadow)  # the average differs from the live weights
    live_generator = ge.load_generator(path, ema=False)
    assert all(torch.equal(v, live[k]) for k, v in live_generator.state_dict().items())
    with torch.no_grad():
        assert generator(torch.rand(1, 3, 4, 4)).shape == (1, 3, 16, 16)


def test_load_normalizers_rebuilds_every_branch(trained) -> None:  # type: ignore[no-untyped-def]
    norms = load_normalizers(trained[0])
    assert set(norms) == {"lr", "hr", "cond"}
    x = torch.rand(1, 3, 4, 4)
    assert torch.equal(norms["hr"].denormalize(norms["hr"].normalize(x)), x)


def test_checkpoints_are_read_weights_only_and_rebuild_without_the_original_config(trained) -> None:  # type: ignore[no-untyped-def]
    ckpt = read_checkpoint(trained[0])
    assert ckpt["gan_engine"]["config"]["Generator"]["name"] == "srresnet"
    assert all(t.device.type == "cpu" for t in ckpt["state_dict"].values())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"does not exist.*checkpoints/"):
        ge.load_generator(tmp_path / "nope.ckpt")


def test_truncated_file(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = trained[0].read_bytes()
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated or corrupt.*another checkpoint"):
        ge.load_generator(cut)


class _Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (print, ("this would run on load",))


def test_a_file_with_arbitrary_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "gan_engine": {"config": {}}, "x": _Payload()}, path)
    with pytest.raises(CheckpointError, match=r"objects other than tensors.*weights_only"):
        read_checkpoint(path)


def test_foreign_and_newer_checkpoints(tmp_path: Path) -> None:
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, plain)
    with pytest.raises(CheckpointError, match="not written by a gan_engine GANModule"):
        read_checkpoint(plain)
    other = tmp_path / "other.pt"
    torch.save([1, 2], other)
    with pytest.raises(CheckpointError, match="not a Lightning checkpoint"):
        read_checkpoint(other)
    newer = tmp_path / "newer.ckpt"
    torch.save({"state_dict": {}, "gan_engine": {"config": {}, "format": 99, "version": "9.0"}}, newer)
    with pytest.raises(CheckpointError, match=r"gan_engine 9.0.*upgrade"):
        read_checkpoint(newer)


def test_weights_that_do_not_fit_the_stored_config(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ckpt = torch.load(trained[0], weights_only=True)
    ckpt["gan_engine"]["config"]["Generator"]["n_channels"] = 16
    path = tmp_path / "edited.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="do not fit the generator"):
        ge.load_generator(path)
    ckpt["gan_engine"]["config"]["Generator"]["name"] = "not_installed"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"cannot rebuild the generator 'not_installed'.*Install"):
        ge.load_generator(path)


def test_resuming_from_a_foreign_checkpoint_says_so(tmp_path: Path) -> None:
    module = tiny_module()
    plain = tmp_path / "plain.ckpt"
    torch.save({"state_dict": module.state_dict(), "pytorch-lightning_version": "2.6.0"}, plain)
    with pytest.raises(CheckpointError, match="not written by a gan_engine GANModule"):
        fit(tiny_module(), tmp_path, ckpt_path=plain)

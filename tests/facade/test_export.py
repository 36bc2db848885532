"""ge.export: ONNX, TorchScript and safetensors files of tiny trained runs, each checked against PyTorch."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import struct
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest
import torch
from safetensors.torch import load_file

import gan_engine as ge
from gan_engine.checkpoint import read_checkpoint
from gan_engine.cli import main
from gan_engine.components.normalizers.base import Normalizer
from gan_engine.errors import CheckpointError, GanEngineError
from gan_engine.inference import load_normalizers
from tests.facade.conftest import tiny_overrides

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "examples" / "configs"
#: Tiny networks for the example configs, as in tests/tasks/test_tasks_fit.py.
TINY_TASKS = {
    "image_to_image": ["Generator.base_channels=8", "Generator.depth=2"],
    "inpainting": ["Generator.base_channels=8", "Generator.depth=2", "Normalization.name=signed"],
    "synthesis": ["Generator.image_size=16", "Generator.base_channels=8", "Discriminator.n_layers=2"],
}
#: EMA that moves a long way in two iterations, so the average and the trained weights differ.
FAST_EMA = {"Training.EMA.decay": 0.5, "Training.EMA.warmup": "none"}
QUIET = {"Trainer.limit_val_batches": 0, "Trainer.enable_progress_bar": False, "Trainer.enable_model_summary": False,
         "Trainer.num_sanity_val_steps": 0}

exporter = importlib.import_module("gan_engine.export")  # the module: ``ge.export`` is the function


def _fit(config: Any, overrides: list[str]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = ge.fit(config, overrides=overrides)
    assert result.last_checkpoint is not None
    return result.last_checkpoint


@pytest.fixture(scope="module")
def sr_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Super-resolution ×4 after 2 iterations, per-band z-score statistics, EMA ≠ trained weights."""
    root = tmp_path_factory.mktemp("sr")
    return _fit(None, tiny_overrides(root, steps=2, extra={"Normalization.name": "zscore", **FAST_EMA, **QUIET}))


def _task_ckpt(root: Path, name: str) -> Path:
    overrides = [*TINY_TASKS[name], "Data.size=16", "Discriminator.base_channels=8", "Training.max_steps=2",
                 f"Training.pretrain_steps={0 if name == 'synthesis' else 1}", "Data.train_size=8",
                 "Data.val_size=4", "Data.batch_size=4", "Data.val_batch_size=4", f"Project.output_dir={root}",
                 *(f"{k}={v}" for k, v in {**FAST_EMA, **QUIET}.items())]
    return _fit(CONFIGS / f"{name}.yaml", overrides)


@pytest.fixture(scope="module")
def task_ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tasks")
    return {name: _task_ckpt(root, name) for name in TINY_TASKS}


def _reference(ckpt: Path, *inputs: torch.Tensor, ema: bool = True) -> torch.Tensor:
    """The data-unit output written out by hand from the public loaders (not from gan_engine.export)."""
    g, n = ge.load_generator(ckpt, ema=ema), load_normalizers(ckpt)
    task = read_checkpoint(ckpt)["gan_engine"]["config"]["Task"]["name"]
    with torch.no_grad():
        if task == "synthesis":
            return n["hr"].denormalize(g(*inputs))
        if task == "inpainting":
            image, mask = inputs
            x, m = n["hr"].normalize(image), n["cond"].normalize(mask)
            fake = n["hr"].denormalize(g(torch.cat([x * (1 - m), m], dim=1)))
            return fake * mask + image * (1 - mask)
        return n["hr"].denormalize(g(n["lr"].normalize(inputs[0])))


def _onnx(path: Path, **inputs: torch.Tensor) -> torch.Tensor:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {k: v.numpy() for k, v in inputs.items()})[0])


def _script(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, and still what loads it
        return torch.jit.load(str(path))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- ONNX ---------------------------------------------------------------------------------


def test_onnx_works_in_data_units_at_another_size_than_it_was_traced_with(sr_ckpt: Path, tmp_path: Path) -> None:
    rng = torch.random.get_rng_state()
    path = ge.export(sr_ckpt, tmp_path / "sr.onnx", format="onnx")
    assert path == tmp_path / "sr.onnx" and _leftovers(tmp_path) == ["sr.onnx"]
    assert torch.equal(torch.random.get_rng_state(), rng)  # its check inputs come from a generator of its own
    lr = torch.rand(3, 4, 12, 20) * 1.5  # traced at (1, 4, 16, 16)
    got, expected = _onnx(path, lr=lr), _reference(sr_ckpt, lr)
    assert got.shape == (3, 4, 48, 80)
    assert (got - expected).abs().max() < 1e-4
    # data units: the z-score statistics are inside the graph
    with torch.no_grad():
        normalised = ge.load_generator(sr_ckpt)(load_normalizers(sr_ckpt)["lr"].normalize(lr))
    assert (got - normalised).abs().max() > 1e-2


def test_image_to_image_onnx_has_one_dynamic_image_input(task_ckpts: dict[str, Path], tmp_path: Path) -> None:
    path = ge.export(task_ckpts["image_to_image"], tmp_path / "i2i.onnx")
    inputs = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_inputs()
    assert [(i.name, i.shape) for i in inputs] == [("cond", ["batch", 4, "height", "width"])]  # Task.in_bands
    cond = torch.rand(2, 4, 24, 32)
    assert (_onnx(path, cond=cond) - _reference(task_ckpts["image_to_image"], cond)).abs().max() < 1e-4


def test_inpainting_onnx_takes_image_and_mask_and_returns_the_composite(task_ckpts: dict[str, Path],
                                                                       tmp_path: Path) -> None:
    ckpt = task_ckpts["inpainting"]
    path = ge.export(ckpt, tmp_path / "inpaint.onnx")
    image, mask = torch.rand(2, 3, 24, 20), (torch.rand(2, 1, 24, 20) > 0.7).float()
    got = _onnx(path, image=image, mask=mask)
    assert (got - _reference(ckpt, image, mask)).abs().max() < 1e-4
    known = (mask == 0).expand_as(image)
    assert torch.allclose(got[known], image[known], atol=1e-6)  # the known pixels come back unchanged
    assert (got[~known] - image[~known]).abs().max() > 1e-3  # the holes are generated


def test_synthesis_exports_noise_and_label_to_images(task_ckpts: dict[str, Path], tmp_path: Path) -> None:
    ckpt = task_ckpts["synthesis"]
    z, label = torch.randn(5, 64), torch.tensor([0, 1, 2, 3, 1])
    onnx_out = _onnx(ge.export(ckpt, tmp_path / "synth.onnx"), noise=z, label=label)
    script = _script(ge.export(ckpt, tmp_path / "synth.pt", format="torchscript"))
    expected = _reference(ckpt, z, label)
    assert onnx_out.shape == (5, 3, 16, 16)
    assert (onnx_out - expected).abs().max() < 1e-4 and (script(z, label) - expected).abs().max() < 1e-4


# -- TorchScript --------------------------------------------------------------------------


def test_torchscript_loads_and_runs_without_gan_engine(sr_ckpt: Path, tmp_path: Path) -> None:
    path = ge.export(sr_ckpt, tmp_path / "sr.pt", format="torchscript")
    lr = torch.rand(2, 4, 10, 14)
    torch.save({"lr": lr, "expected": _reference(sr_ckpt, lr)}, tmp_path / "io.pt")
    code = (
        "import sys\n"
        "sys.modules['gan_engine'] = None  # any import of gan_engine now fails\n"
        "import torch\n"
        f"model = torch.jit.load({str(path)!r})\n"
        f"io = torch.load({str(tmp_path / 'io.pt')!r}, weights_only=True)\n"
        "error = (model(io['lr']) - io['expected']).abs().max().item()\n"
        "assert not [m for m in sys.modules if m.startswith('gan_engine') and sys.modules[m] is not None]\n"
        "print(error)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.strip()) < 1e-4


# -- safetensors --------------------------------------------------------------------------


def _header(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8: 8 + size])


def test_safetensors_round_trips_through_load_generator_without_pickle(sr_ckpt: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = ge.export(sr_ckpt, tmp_path / "sr.safetensors", format="safetensors")
    meta = _header(path)["__metadata__"]
    assert meta["format"] == "gan_engine-safetensors" and meta["format_version"] == "1" and meta["iteration"] == "2"
    assert json.loads(meta["config"]) == read_checkpoint(sr_ckpt)["gan_engine"]["config"]
    tensors = load_file(str(path))
    assert {k.split(".")[0] for k in tensors} == {"generator", "normalizers"}
    assert {"normalizers.lr.mean", "normalizers.lr.std", "normalizers.hr.mean", "normalizers.hr.std"} <= set(tensors)
    expected, saved = ge.load_generator(sr_ckpt).state_dict(), load_normalizers(sr_ckpt)

    def no_pickle(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a safetensors export was unpickled")

    monkeypatch.setattr(torch, "load", no_pickle)
    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    loaded = ge.load_generator(path)
    assert not loaded.training and loaded.state_dict().keys() == expected.keys()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())
    norms = load_normalizers(path)
    assert all(torch.equal(norms[b].mean, saved[b].mean) and torch.equal(norms[b].std, saved[b].std)
               for b in ("lr", "hr"))
    ckpt = exporter.read_safetensors(path)
    assert ckpt["gan_engine"]["iteration"] == 2 and ckpt["gan_engine"]["config"]["Task"]["name"] == "super_resolution"


def test_the_ema_weights_are_exported_unless_ema_is_false(sr_ckpt: Path, tmp_path: Path) -> None:
    averaged, trained = ge.load_generator(sr_ckpt).state_dict(), ge.load_generator(sr_ckpt, ema=False).state_dict()
    assert any(not torch.equal(averaged[k], trained[k]) for k in averaged)  # the checkpoint tells them apart
    for ema, weights in ((True, averaged), (False, trained)):
        got = ge.load_generator(ge.export(sr_ckpt, tmp_path / f"ema-{ema}.safetensors", "safetensors", ema=ema))
        assert all(torch.equal(v, weights[k]) for k, v in got.state_dict().items())
    lr = torch.rand(1, 4, 8, 8)
    from_safetensors = _script(ge.export(tmp_path / "ema-True.safetensors", tmp_path / "st.pt", "torchscript"))
    assert (from_safetensors(lr) - _reference(sr_ckpt, lr)).abs().max() < 1e-5  # an export exports again
    for ema in (True, False):
        script = _script(ge.export(sr_ckpt, tmp_path / f"ema-{ema}.pt", "torchscript", ema=ema))
        assert (script(lr) - _reference(sr_ckpt, lr, ema=ema)).abs().max() < 1e-5
        assert (script(lr) - _reference(sr_ckpt, lr, ema=not ema)).abs().max() > 1e-4


def test_a_foreign_or_damaged_safetensors_file_is_a_checkpoint_error(sr_ckpt: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match=r"other\.safetensors is a safetensors file but not a gan_engine"):
        ge.load_generator(tmp_path / "other.safetensors")
    data = ge.export(sr_ckpt, tmp_path / "sr.safetensors", "safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors .* truncated or corrupt"):
        ge.load_generator(tmp_path / "cut.safetensors")


# -- errors and atomic writes -------------------------------------------------------------


def test_unknown_format_and_bad_checkpoints_are_named(sr_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(GanEngineError, match=r"unknown export format 'onxx'; expected one of onnx, torchscript, "
                                             r"safetensors \(did you mean 'onnx'\?\)"):
        ge.export(sr_ckpt, tmp_path / "m.onnx", format="onxx")
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*nope\.ckpt"):
        ge.export(tmp_path / "nope.ckpt", tmp_path / "m.onnx")
    (tmp_path / "bad.ckpt").write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad\.ckpt .* truncated or corrupt"):
        ge.export(tmp_path / "bad.ckpt", tmp_path / "m.onnx")
    assert _leftovers(tmp_path) == ["bad.ckpt"]


def test_an_onnxruntime_mismatch_leaves_no_file(sr_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = exporter._onnxruntime
    monkeypatch.setattr(exporter, "_onnxruntime", lambda path, inputs: real(path, inputs) + 1e-3)
    with pytest.raises(GanEngineError, match=r"ONNX graph run by onnxruntime differs from PyTorch by up to 0\.001"):
        ge.export(sr_ckpt, tmp_path / "out" / "sr.onnx")
    assert _leftovers(tmp_path / "out") == []


def test_a_failed_write_leaves_no_file(sr_ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(GanEngineError, match=r"cannot write .*a_file/sr\.onnx: its folder cannot be created"):
        ge.export(sr_ckpt, tmp_path / "a_file" / "sr.onnx")
    real_save = torch.jit.save

    def half_then_full_disk(module: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        real_save(module, f, *args, **kwargs)
        Path(f).write_bytes(Path(f).read_bytes()[:100])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch.jit, "save", half_then_full_disk)
    with pytest.raises(GanEngineError, match=r"cannot write .*sr\.pt \(OSError: .*No space left"):
        ge.export(sr_ckpt, tmp_path / "sr.pt", format="torchscript")
    assert _leftovers(tmp_path) == ["a_file"]


def test_missing_optional_packages_say_what_to_install(sr_ckpt: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(GanEngineError, match=r"needs the package 'onnxruntime'.*pip install 'gan_engine\[export\]'"):
        ge.export(sr_ckpt, tmp_path / "sr.onnx")
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(GanEngineError, match=r"needs the package 'safetensors'"):
        ge.export(sr_ckpt, tmp_path / "sr.safetensors", "safetensors")
    assert _leftovers(tmp_path) == []


class _ReadsItsInput(Normalizer):
    """Scales by the largest value it sees: a Python number, frozen into a traced graph."""

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x / float(x.max())


class _OneWay(Normalizer):
    invertible = False

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        raise TypeError("this normaliser cannot be inverted")


@pytest.mark.parametrize("cls, message", [
    (_ReadsItsInput, r"'lr' normaliser \(_ReadsItsInput\) cannot be traced: once traced, its normalize gives other "
                     r"values"),
    (_OneWay, r"'hr' normaliser \(_OneWay\) cannot be exported: its denormalize raised TypeError: this normaliser "
              r"cannot be inverted"),
])
def test_a_normaliser_that_cannot_be_traced_is_named(sr_ckpt: Path, tmp_path: Path, cls: type[Normalizer],
                                                     message: str) -> None:
    ge.normalizers.register("export_test_norm")(cls)
    ckpt = torch.load(sr_ckpt, weights_only=True)
    ckpt["gan_engine"]["config"]["Normalization"] = {"name": "export_test_norm"}
    ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith("normalizers.")}
    torch.save(ckpt, tmp_path / "edited.ckpt")
    for fmt in ("onnx", "torchscript"):
        with pytest.raises(GanEngineError, match=message):
            ge.export(tmp_path / "edited.ckpt", tmp_path / "out" / f"m.{fmt}", fmt)
    assert _leftovers(tmp_path / "out") == []


# -- command line and import cost ---------------------------------------------------------


def test_the_export_verb(sr_ckpt: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "models" / "sr.onnx"
    assert main(["export", "--checkpoint", str(sr_ckpt), "--format", "onnx", "--output", str(out)]) == 0
    assert out.is_file() and f"wrote {out}" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exited:
        main(["export", "--checkpoint", str(sr_ckpt), "--format", "pickle", "--output", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "invalid choice: 'pickle'" in err
    assert "'onnx', 'torchscript', 'safetensors'" in err
    code = main(["export", "--checkpoint", str(tmp_path / "nope.ckpt"), "--format", "onnx",
                 "--output", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert code == 2 and "no checkpoint at" in err and "nope.ckpt" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["sr.onnx"]


def test_import_gan_engine_loads_no_export_package() -> None:
    heavy = "('onnx', 'onnxruntime', 'safetensors', 'rasterio', 'lightning')"
    code = ("import sys, gan_engine as ge; assert callable(ge.export); "
            f"print(sorted(m for m in {heavy} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_module_is_callable_as_ge_export(sr_ckpt: Path, tmp_path: Path) -> None:
    # importing gan_engine.export binds the module to that name on the package; calling it still exports
    assert exporter(sr_ckpt, tmp_path / "m.safetensors", "safetensors") == tmp_path / "m.safetensors"

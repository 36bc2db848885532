"""Two CPU processes (DDP, gloo) train through pretraining into adversarial iterations in step."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1", "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD": "1"}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, object]]:
    out = tmp_path_factory.mktemp("ddp")
    env = _env()
    # what ge.fit builds for strategy "ddp": DDP that does not wait for the network a phase leaves out
    done = subprocess.run([sys.executable, str(WORKER), str(out), "ddp_find_unused_parameters_true"], env=env,
                          cwd=out, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1)]


def test_both_ranks_count_the_same_iterations(ranks: list[dict[str, object]]) -> None:
    for r in ranks:
        assert r["world_size"] == 2 and r["iteration"] == 5 and r["ema_updates"] == 5
        assert r["global_step"] == 2 + 3 * 2 + 2  # pretraining, adversarial (D + G), two lazy R1 steps


def test_weights_and_ema_are_identical_across_ranks(ranks: list[dict[str, object]]) -> None:
    for part in ("generator", "discriminator", "ema"):
        a, b = ranks[0][part], ranks[1][part]
        assert a.keys() == b.keys()  # type: ignore[attr-defined]
        assert all(torch.equal(a[k], b[k]) for k in a), part  # type: ignore[index]


def test_logged_values_are_reduced_across_ranks(ranks: list[dict[str, object]]) -> None:
    rows0, rows1 = ranks[0]["rows"], ranks[1]["rows"]
    assert len(rows0) == len(rows1) == 5 + 2  # + validation records
    for (_, a), (_, b) in zip(rows0, rows1):  # type: ignore[call-overload]
        assert a.keys() == b.keys() and all(a[k] == pytest.approx(b[k]) for k in a)
    assert ranks[0]["metrics"]["val/psnr"] == pytest.approx(ranks[1]["metrics"]["val/psnr"])  # type: ignore[index]
    assert "train/d_adversarial" not in rows0[0][1]  # pretraining: no discriminator metrics


def test_normalisers_fitted_on_the_training_data_are_identical_across_ranks(ranks: list[dict[str, object]]) -> None:
    a, b = ranks[0]["normalizers"], ranks[1]["normalizers"]
    assert a.keys() == b.keys() and {"lr.mean", "lr.std", "hr.mean", "hr.std"} <= a.keys()  # type: ignore[attr-defined]
    assert all(torch.equal(a[k], b[k]) for k in a)  # type: ignore[index]
    assert a["hr.mean"].shape == (3,) and bool((a["hr.std"] > 0).all())  # type: ignore[index]


def test_fid_and_kid_reduce_the_features_of_every_rank(ranks: list[dict[str, object]]) -> None:
    # each rank saw one validation image, too few for a covariance: the values exist because
    # torchmetrics gathered both ranks' features before computing
    assert [r["fid_local_images"] for r in ranks] == [1, 1]
    m0, m1 = ranks[0]["metrics"], ranks[1]["metrics"]
    for key in ("val/fid", "val/kid"):
        assert key in m0 and m0[key] == m1[key] and m0[key] == m0[key]  # type: ignore[index,operator]


def test_a_nan_on_one_rank_stops_both_with_the_same_error_promptly(tmp_path: Path) -> None:
    """Stability.nonfinite: raise decides on the reduced flags, so no rank is left waiting in a collective."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(WORKER), str(tmp_path), "ddp_find_unused_parameters_true", "nan"],
                          env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=180)
    elapsed = time.monotonic() - start
    assert done.returncode != 0
    errors = [(tmp_path / f"rank{r}.err").read_text() if (tmp_path / f"rank{r}.err").exists() else None
              for r in (0, 1)]
    assert errors[0] is not None and errors[1] is not None, (errors, done.stderr[-3000:])
    assert errors[0] == errors[1], errors
    assert errors[0].startswith("GanEngineError: non-finite loss at iteration 3: d_adversarial"), errors[0]
    assert elapsed < 120, f"took {elapsed:.0f} s: a rank waited for the other"


def test_accumulated_micro_batches_all_reduce_once_per_phase(tmp_path: Path) -> None:
    """Under DDP every micro-batch's backward but a phase's last runs without gradient sync."""
    runs = {}
    for n in (1, 2):
        done = subprocess.run([sys.executable, str(WORKER), str(tmp_path), "ddp_find_unused_parameters_true",
                               "accumulate", str(n)], env=_env(), cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[n] = [torch.load(tmp_path / f"acc{n}_rank{r}.pt", weights_only=False) for r in (0, 1)]
    for n, ranks in runs.items():
        assert [r["iteration"] for r in ranks] == [3, 3]
        for part in ("generator", "discriminator"):  # the last backward did reduce: the ranks agree
            a, b = ranks[0][part], ranks[1][part]
            assert all(torch.equal(a[k], b[k]) for k in a), (n, part)
    one, two = runs[1][0]["calls"], runs[2][0]["calls"]
    assert one and {p for _, p in one} == {"generator", "discriminator"}
    assert two == one  # two micro-batches: as many all-reduces, in the same phases, as one

"""The quickstart notebook runs headless, top to bottom, with a handful of iterations."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]


def test_the_quickstart_notebook_executes_and_shows_the_panel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ROOT / "examples" / "quickstart.ipynb", tmp_path)
    shutil.copytree(ROOT / "examples" / "configs", tmp_path / "configs")
    monkeypatch.setenv("QUICKSTART_MAX_STEPS", "4")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(tmp_path / "quickstart.ipynb", as_version=4)
    NotebookClient(nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "run directory:" in text and "vs bicubic" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the LR | SR | HR panel, inline
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()

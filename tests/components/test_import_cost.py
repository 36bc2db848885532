"""Importing gan_engine stays light: heavy optional libraries load on first use only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_does_not_load_kornia_torchmetrics_or_torchvision() -> None:
    code = ("import sys, gan_engine as ge; ge.generators.names(); ge.losses.names(); "
            "print(sorted(m for m in ('kornia', 'torchmetrics', 'torchvision', 'lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert out.stdout.strip() == "[]"

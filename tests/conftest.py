"""Shared fixtures: registries isolated per test, deterministic seeds, no plugin surprises."""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from gan_engine.registry import all_registries, isolated_registries


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


@pytest.fixture
def install_distribution(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Make a real distribution discoverable the way pip does: a ``*.dist-info`` on ``sys.path``.

    Returns a function ``install(name, entry_points, modules, version="1.0")`` where
    ``entry_points`` maps a group to ``{entry name: "module:attr"}`` and ``modules`` maps a
    module name to its source. Registries rescan plugins inside the test.
    """
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def install(name: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str],
                version: str = "1.0") -> None:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"  # as pip names it
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = []
        for group, entries in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{k} = {v}" for k, v in entries.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for module, source in modules.items():
            (site / f"{module}.py").write_text(source)
        importlib.invalidate_caches()
        for reg in all_registries().values():
            reg._plugins_scanned = False

    return install

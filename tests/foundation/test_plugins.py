"""Entry-point plugins, with real distributions made discoverable the way pip makes them."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import gan_engine as ge

PLUGIN_SOURCE = '''
import torch

class PluginGen(torch.nn.Module):
    """A generator from a plugin."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(in_channels, in_channels, 1)
'''


def test_working_plugin_is_listed_without_import_and_loaded_on_get(install_distribution) -> None:  # type: ignore[no-untyped-def]
    install_distribution("ge-good-plugin", {"gan_engine.generators": {"plugin_gen": "good_plugin_mod:PluginGen"}},
                         {"good_plugin_mod": PLUGIN_SOURCE})
    import sys

    assert "plugin_gen" in ge.generators.names()
    assert "good_plugin_mod" not in sys.modules  # listed from metadata only
    cls = ge.generators.get("plugin_gen")
    assert cls.__name__ == "PluginGen" and "good_plugin_mod" in sys.modules
    assert ge.generators.build("plugin_gen", in_channels=4).conv.in_channels == 4
    info = ge.generators.describe("plugin_gen")
    assert info.origin == "ge-good-plugin 1.0" and info.summary == "A generator from a plugin."


def test_broken_plugin_is_listed_warns_once_and_raises_chained(install_distribution) -> None:  # type: ignore[no-untyped-def]
    install_distribution("ge-broken-plugin", {"gan_engine.losses": {"broken_loss": "broken_plugin_mod:Loss"}},
                         {"broken_plugin_mod": "raise ImportError('missing optional dependency foo')\n"})
    assert "broken_loss" in ge.losses.names()
    assert "l1" in ge.losses.names()  # the rest keeps working
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            with pytest.raises(ge.RegistryError) as info:
                ge.losses.get("broken_loss")
    assert isinstance(info.value.__cause__, ImportError)
    message = str(info.value)
    assert "broken_plugin_mod:Loss" in message and "ge-broken-plugin 1.0" in message
    assert "missing optional dependency foo" in message
    failures = [w for w in caught if "failed to load" in str(w.message)]
    assert len(failures) == 1
    assert "broken_plugin_mod:Loss" in str(failures[0].message) and "ge-broken-plugin" in str(failures[0].message)
    assert ge.losses.build("l1") is not None


def test_two_distributions_claiming_one_name_is_an_error_naming_both(install_distribution) -> None:  # type: ignore[no-untyped-def]
    install_distribution("ge-plugin-a", {"gan_engine.generators": {"dup_gen": "plug_a:PluginGen"}},
                         {"plug_a": PLUGIN_SOURCE})
    install_distribution("ge-plugin-b", {"gan_engine.generators": {"dup_gen": "plug_b:PluginGen"}},
                         {"plug_b": PLUGIN_SOURCE})
    with pytest.warns(RuntimeWarning, match="claimed by both"):
        assert "dup_gen" in ge.generators.names()
    with pytest.raises(ge.PluginError) as info:
        ge.generators.get("dup_gen")
    assert "ge-plugin-a 1.0" in str(info.value) and "ge-plugin-b 1.0" in str(info.value)


def test_plugin_claiming_a_builtin_name_is_an_error_naming_both(install_distribution) -> None:  # type: ignore[no-untyped-def]
    install_distribution("ge-shadow", {"gan_engine.generators": {"srresnet": "shadow_mod:PluginGen"}},
                         {"shadow_mod": PLUGIN_SOURCE})
    with pytest.warns(RuntimeWarning):
        ge.generators.names()
    with pytest.raises(ge.PluginError) as info:
        ge.generators.get("srresnet")
    assert "gan_engine.components.generators.srresnet" in str(info.value) and "ge-shadow 1.0" in str(info.value)


def test_environment_variable_turns_autoload_off(install_distribution, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GAN_ENGINE_DISABLE_PLUGIN_AUTOLOAD", "1")
    install_distribution("ge-good-plugin", {"gan_engine.generators": {"plugin_gen": "good_plugin_mod2:PluginGen"}},
                         {"good_plugin_mod2": PLUGIN_SOURCE})
    assert "plugin_gen" not in ge.generators.names()
    assert "srresnet" in ge.generators.names()


def test_plugin_component_is_usable_from_a_config(install_distribution) -> None:  # type: ignore[no-untyped-def]
    install_distribution("ge-cfg-plugin", {"gan_engine.generators": {"cfg_gen": "cfg_plugin_mod:PluginGen"}},
                         {"cfg_plugin_mod": PLUGIN_SOURCE})
    cfg = ge.load_config({"Generator": {"name": "cfg_gen"}})
    assert cfg.Generator.name == "cfg_gen" and cfg.Generator.in_channels == cfg.Data.bands


def test_the_example_plugin_package_works_through_its_entry_points(install_distribution, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """examples/plugin_package, made discoverable with the entry points of its pyproject.toml."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the package itself supports 3.10
    package = Path(__file__).resolve().parents[2] / "examples" / "plugin_package"
    meta = tomllib.loads((package / "pyproject.toml").read_text())
    monkeypatch.syspath_prepend(str(package))
    install_distribution(meta["project"]["name"], meta["project"]["entry-points"], {})
    cfg = ge.load_config({"Generator": {"name": "example_residual", "width": 8},
                          "Losses": {"content": [{"name": "example_huber", "weight": 1.0}]}})
    gen = ge.generators.build(cfg.Generator.name, **cfg.Generator.params)

    assert gen(torch.rand(2, cfg.Data.bands, 8, 8)).shape == (2, cfg.Data.bands, 32, 32)
    assert ge.generators.describe("example_residual").origin == "gan-engine-example-plugin 1.0"

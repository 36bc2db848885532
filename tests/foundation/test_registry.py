"""The Registry contract of API.md §1, through the public names."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import gan_engine as ge
from gan_engine.registry import Registry


class Tiny(torch.nn.Module):
    """A tiny generator for tests."""

    def __init__(self, in_channels: int = 3, width: int = 4) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(in_channels, width, 1)


def test_decorator_registration_returns_the_object_unchanged() -> None:
    decorated = ge.generators.register("tiny")(Tiny)
    assert decorated is Tiny
    assert ge.generators.get("tiny") is Tiny
    assert "tiny" in ge.generators


def test_call_registration_and_sorted_names() -> None:
    ge.generators.register("aaa_tiny", Tiny)
    names = ge.generators.names()
    assert names == sorted(names)
    assert {"aaa_tiny", "srresnet"} <= set(names)


def test_registrations_do_not_leak_between_tests() -> None:
    assert "tiny" not in ge.generators
    assert "aaa_tiny" not in ge.generators


def test_build_from_name_and_from_mapping() -> None:
    ge.generators.register("tiny", Tiny)
    a = ge.generators.build("tiny", in_channels=4, width=2)
    b = ge.generators.build({"name": "tiny", "in_channels": 4, "width": 2})
    assert a.conv.weight.shape == b.conv.weight.shape == (2, 4, 1, 1)


def test_build_of_builtin_srresnet_any_band_count() -> None:
    gen = ge.generators.build("srresnet", in_channels=4, scale=4, n_channels=8, n_blocks=1)
    assert gen(torch.rand(1, 4, 8, 8)).shape == (1, 4, 32, 32)


def test_unknown_name_suggests_the_closest_and_lists_all() -> None:
    with pytest.raises(ge.RegistryError) as info:
        ge.generators.get("srresnt")
    message = str(info.value)
    assert "generators" in message and "'srresnt'" in message
    assert "did you mean 'srresnet'" in message
    assert "Available: " in message and "srresnet" in message.split("Available: ")[1]
    assert isinstance(info.value, KeyError) and isinstance(info.value, ge.GanEngineError)


def test_bad_keyword_is_refused_before_construction() -> None:
    built = []

    class Counting(Tiny):
        def __init__(self, in_channels: int = 3, width: int = 4) -> None:
            built.append(1)
            super().__init__(in_channels, width)

    ge.generators.register("counting", Counting)
    with pytest.raises(ge.RegistryError) as info:
        ge.generators.build("counting", widht=3)
    message = str(info.value)
    assert "'counting'" in message and "'widht'" in message
    assert "closest: 'width'" in message and "in_channels, width" in message
    assert built == []


def test_missing_required_parameter_is_named() -> None:
    class NeedsBands(torch.nn.Module):
        def __init__(self, bands: int) -> None:
            super().__init__()

    ge.losses.register("needs_bands", NeedsBands)
    with pytest.raises(ge.RegistryError, match="requires the parameter 'bands'"):
        ge.losses.build("needs_bands")


def test_registering_a_name_twice_names_both_origins() -> None:
    class Other(Tiny):
        pass

    with pytest.raises(ge.RegistryError) as info:
        ge.generators.register("srresnet", Other)
    message = str(info.value)
    assert "gan_engine.components.generators.srresnet" in message and __name__ in message
    assert "override=True" in message


def test_override_replaces_on_purpose() -> None:
    ge.generators.register("srresnet", Tiny, override=True)
    assert ge.generators.get("srresnet") is Tiny


def test_re_registering_the_same_object_is_harmless() -> None:
    ge.generators.register("tiny", Tiny)
    ge.generators.register("tiny", Tiny)
    assert ge.generators.get("tiny") is Tiny


def test_describe_gives_origin_summary_and_signature() -> None:
    ge.generators.register("tiny", Tiny)
    info = ge.generators.describe("tiny")
    assert info.origin == __name__
    assert info.summary == "A tiny generator for tests."
    assert "in_channels: int = 3" in info.signature
    builtin = ge.generators.describe("srresnet")
    assert builtin.origin == "gan_engine.components.generators.srresnet" and builtin.error is None


def test_every_registry_of_the_contract_exists() -> None:
    for name in ("generators", "discriminators", "losses", "normalizers", "callbacks", "tasks", "datamodules"):
        reg = getattr(ge, name)
        assert isinstance(reg, Registry)
        assert reg.group == f"gan_engine.{name}"


def test_lazily_declared_builtin_loads_on_get() -> None:
    reg: Registry[object] = Registry("widgets")
    reg.declare("ordered", "collections:OrderedDict")
    assert reg.names() == ["ordered"]
    from collections import OrderedDict

    assert reg.get("ordered") is OrderedDict


def test_import_and_names_do_not_import_lightning() -> None:
    code = (
        "import sys, gan_engine as ge\n"
        "for reg in ('generators','discriminators','losses','normalizers','callbacks','tasks','datamodules'):\n"
        "    getattr(ge, reg).names()\n"
        "ge.generators.build('srresnet', n_channels=4, n_blocks=1)\n"
        "assert 'lightning' not in sys.modules and 'pytorch_lightning' not in sys.modules, 'lightning imported'\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_version_matches_package_metadata() -> None:
    from importlib.metadata import version

    assert ge.__version__ == version("gan_engine")

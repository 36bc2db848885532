"""The public names of API.md must not disappear without a deprecation."""

from __future__ import annotations

import gan_engine as ge

PUBLIC = {
    "__version__", "generators", "discriminators", "losses", "normalizers", "callbacks", "tasks", "datamodules",
    "load_config", "config_schema", "Config", "ComponentSpec", "Registry",
    "GanEngineError", "ConfigError", "RegistryError", "PluginError", "ShapeError", "CheckpointError",
    "RunLockedError", "DataError", "fit", "validate", "FitResult", "GANModule", "load_generator", "export",
}
LAZY = {"fit", "validate", "FitResult", "GANModule", "load_generator", "export"}


def test_every_public_name_is_exported() -> None:
    assert PUBLIC <= set(ge.__all__)
    assert PUBLIC <= set(dir(ge))


def test_eager_names_resolve_without_lightning() -> None:
    for name in PUBLIC - LAZY:
        assert getattr(ge, name) is not None


def test_error_hierarchy() -> None:
    for err in (ge.ConfigError, ge.RegistryError, ge.PluginError, ge.ShapeError, ge.CheckpointError,
                ge.RunLockedError):
        assert issubclass(err, ge.GanEngineError)
    assert issubclass(ge.RegistryError, KeyError) and issubclass(ge.PluginError, ge.RegistryError)


def test_unknown_attribute_is_an_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        ge.fitt  # noqa: B018

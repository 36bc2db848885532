"""``load_config``: parse, resolve, check — the three steps from a source to a valid :class:`Config`.

1. :mod:`~gan_engine.config.parse` turns a file, mapping or :class:`Config` (plus dotted
   overrides) into a typed :class:`Config`, reporting structural problems;
2. :func:`~gan_engine.config.resolve.resolve` returns a copy with the derived values (band
   counts, scale) and the components' default parameters filled in;
3. :func:`~gan_engine.config.checks.check_config` reports what is wrong with the result,
   and changes nothing.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any, Union

from gan_engine.config.parse import apply_overrides, convert, plain, read_config_file
from gan_engine.config.schema import Config
from gan_engine.config.serialize import dump
from gan_engine.errors import ConfigError, ConfigIssue

__all__ = ["ConfigSource", "load_config"]

ConfigSource = Union[str, "PathLike[str]", Mapping[str, Any], Config, None]


def load_config(
    source: ConfigSource = None,
    overrides: Sequence[str] | Mapping[str, Any] | None = None,
    *,
    check_components: bool = True,
) -> Config:
    """Load, validate and resolve a configuration.

    Args:
        source: a YAML or JSON file, a mapping, an existing :class:`Config`, or ``None``
            (the defaults, which are the quickstart).
        overrides: dotted ``KEY=VALUE`` strings (values parsed as YAML) or a mapping of
            dotted keys to values, applied on top of ``source``.
        check_components: also check registry names, component parameters against their
            signatures, and the rules that tie sections together.

    Returns:
        The validated :class:`Config`, with derived values (band counts, scale) filled in.

    Raises:
        ConfigError: listing every problem found, each with its dotted path.

    Example:
        >>> cfg = load_config({}, overrides=["Training.max_steps=200"])
        >>> cfg.Training.max_steps
        200
    """
    label = None
    if isinstance(source, Config):
        raw: dict[str, Any] = dump(source)
    elif source is None:
        raw = {}
    elif isinstance(source, Mapping):
        raw = plain(source)
    else:
        label = str(source)
        raw = read_config_file(source)
    if overrides:
        raw = apply_overrides(raw, overrides, source=label)
    issues: list[ConfigIssue] = []
    cfg = convert(Config, raw, "", issues, default=Config())
    if check_components:
        from gan_engine.config.checks import check_config  # the registries: deferred, for import time
        from gan_engine.config.resolve import resolve

        cfg, derived = resolve(cfg)
        issues.extend(derived)
        issues.extend(check_config(cfg))
    if issues:
        raise ConfigError(issues, source=label)
    return typing.cast(Config, cfg)

"""The exception hierarchy of gan_engine.

Every error raised on purpose by the library derives from :class:`GanEngineError`, so a
caller can catch the whole family, or one precise kind. Messages say what was expected,
what was received, and what to do about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import get_close_matches

__all__ = [
    "CheckpointError",
    "ConfigError",
    "ConfigIssue",
    "DataError",
    "GanEngineError",
    "PluginError",
    "RegistryError",
    "RunLockedError",
    "ShapeError",
    "closest",
]


class GanEngineError(Exception):
    """Base class of every error gan_engine raises on purpose."""


class RegistryError(GanEngineError, KeyError):
    """A component name is unknown, registered twice, or its plugin failed to load."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a readable sentence is more useful here.
        return str(self.args[0]) if self.args else ""


class PluginError(RegistryError):
    """An entry-point plugin could not be loaded or conflicts with another component."""


class ShapeError(GanEngineError, ValueError):
    """A tensor has the wrong shape, rank or band count."""


class DataError(GanEngineError, ValueError):
    """A data file is unreadable or disagrees with the configuration (bands, size, NaN values).

    The message names the offending file, what was expected and what was found.
    """


class CheckpointError(GanEngineError):
    """A checkpoint is missing, truncated, or does not match the model it is loaded into."""


class RunLockedError(GanEngineError):
    """Another live process is writing the same run directory."""


class ConfigIssue(tuple[str, str]):
    """One problem in a configuration: the dotted path of the key and the message."""

    __slots__ = ()

    def __new__(cls, path: str, message: str) -> ConfigIssue:
        return super().__new__(cls, (path, message))

    @property
    def path(self) -> str:
        return self[0]

    @property
    def message(self) -> str:
        return self[1]

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


class ConfigError(GanEngineError, ValueError):
    """A configuration is invalid; :attr:`issues` lists every problem found, with its path."""

    def __init__(self, issues: Sequence[ConfigIssue] | str, source: str | None = None) -> None:
        if isinstance(issues, str):
            issues = [ConfigIssue("", issues)]
        self.issues: list[ConfigIssue] = list(issues)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        count = len(self.issues)
        head = f"{count} problem{'s' if count != 1 else ''} in the configuration{where}:"
        return "\n".join([head, *(f"  - {issue}" for issue in self.issues)])

    @property
    def paths(self) -> list[str]:
        """The dotted paths of every problem, in the order they were found."""
        return [issue.path for issue in self.issues]


def closest(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` entries of ``choices`` that look like ``word``, best first."""
    pool = list(choices)
    found = get_close_matches(word, pool, n=n, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in pool}
        found = [lowered[c] for c in get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.5)]
    return found


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``"did you mean 'x'?"`` fragment, or an empty string when nothing is close."""
    found = closest(word, choices)
    if not found:
        return ""
    return "did you mean " + " or ".join(repr(f) for f in found) + "?"

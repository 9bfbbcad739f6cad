"""The typed shape of every dspipeline config section, checked once before a command works.

confuse templates (confuse is beets' config library, not beets itself) with ranges and
choices: a typo such as ``tower_weights: abc`` or ``max_genres: -5`` becomes one line naming the
key and what was expected (``confuse.ConfigError``, which beets prints as
``configuration error: …``), instead of a ValueError deep inside a stage. Defaults stay in the
plugins' ``self.config.add``; a key missing here is fine (its plugin may not be loaded).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import confuse

from .sonic.layout import TOWERS

__all__ = ["SCHEMA", "validate"]


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


class Range(confuse.Template[Any]):
    """A number (or integer) within [low, high]; ``None`` allowed when ``optional``."""

    def __init__(
        self,
        low: float | None = None,
        high: float | None = None,
        *,
        integer: bool = False,
        optional: bool = False,
    ) -> None:
        super().__init__(default=None)
        self.low, self.high, self.integer, self.optional = low, high, integer, optional

    def expected(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.low is not None and self.high is not None:
            kind += f" from {self.low:g} to {self.high:g}"
        elif self.low is not None:
            kind += f" ≥ {self.low:g}"
        elif self.high is not None:
            kind += f" ≤ {self.high:g}"
        return kind + (" (or null)" if self.optional else "")

    def convert(self, value: Any, view: confuse.ConfigView) -> Any:
        if value is None and self.optional:
            return None
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (self.integer and not float(value).is_integer()) or math.isnan(value):
            self.fail(f"expected {self.expected()}, got {_show(value)}", view, True)
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            self.fail(f"expected {self.expected()}, got {_show(value)}", view)
        return value


class Vector(confuse.Template[Any]):
    """A list with one value per template in ``items`` (``what`` describes it)."""

    def __init__(self, what: str, *items: Range) -> None:
        super().__init__(default=None)
        self.what, self.items = what, items

    def value(self, view: confuse.ConfigView, template: object = None) -> Any:
        try:
            value, _ = view.first()
        except confuse.NotFoundError:
            return None
        if not isinstance(value, list) or len(value) != len(self.items):
            self.fail(f"expected {self.what}, got {_show(value)}", view, True)
        return [
            item.value(sub, self) for item, sub in zip(self.items, view.sequence(), strict=True)
        ]


class Flag(confuse.Template[Any]):
    """yes/no (YAML booleans)."""

    def __init__(self) -> None:
        super().__init__(default=None)

    def convert(self, value: Any, view: confuse.ConfigView) -> Any:
        if not isinstance(value, bool):
            self.fail(f"expected yes or no, got {_show(value)}", view, True)
        return value


class Text(confuse.Template[Any]):
    """A string (``None`` allowed when ``optional``: an empty YAML value)."""

    def __init__(self, *, optional: bool = False) -> None:
        super().__init__(default=None)
        self.optional = optional

    def convert(self, value: Any, view: confuse.ConfigView) -> Any:
        if value is None and self.optional:
            return None
        if not isinstance(value, str):
            self.fail(f"expected a string, got {_show(value)}", view, True)
        return value


class OneOf(confuse.Template[Any]):
    def __init__(self, *choices: str) -> None:
        super().__init__(default=None)
        self.choices = choices

    def convert(self, value: Any, view: confuse.ConfigView) -> Any:
        if value is False and "no" in self.choices:  # YAML reads a bare `no` as false
            return "no"
        if not isinstance(value, str) or value.strip().lower() not in self.choices:
            self.fail(f"expected one of {', '.join(self.choices)}, got {_show(value)}", view)
        return value.strip().lower()


class Table(confuse.Template[Any]):
    """A mapping of names to values each checked by ``item`` (e.g. ``weights.sources``)."""

    def __init__(self, item: confuse.Template[Any]) -> None:
        super().__init__(default=None)
        self.item = item

    def value(self, view: confuse.ConfigView, template: object = None) -> Any:
        try:
            value, _ = view.first()
        except confuse.NotFoundError:
            return None
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(f"expected a mapping of names to values, got {_show(value)}", view, True)
        return {key: self.item.value(view[key], self) for key in value}


class Names(confuse.Template[Any]):
    """A list of strings."""

    def __init__(self) -> None:
        super().__init__(default=None)

    def convert(self, value: Any, view: confuse.ConfigView) -> Any:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            self.fail(f"expected a list of names, got {_show(value)}", view, True)
        return value


_SHARE = Range(0.0)
# A tower's PCA cannot have more components than the tower has features.
_COMPONENTS = [Range(1, s.stop - s.start, integer=True) for s in TOWERS.values()]
MODE_NAMES = ("narrow", "dynamic", "discover", "sonic-only")
WRITE_GENRES = ("no", "append", "replace")  # discogsgenres.write_genres
GENRE_SOURCES = ("styles", "genres", "both")  # discogsgenres.genre_source

#: section → key → template. Nested mappings are nested dicts.
SCHEMA: Mapping[str, Mapping[str, Any]] = {
    "dspipeline": {"sidecar": Text(optional=True), "out_dir": Text(optional=True)},
    "discogsgenres": {
        "auto": Flag(),
        "token": Text(optional=True),
        "base_url": Text(),
        "threshold": Range(0.0, 1.0),
        "strict_artist": Flag(),
        "user_agent": Text(),
        "timeout": Range(0.1),
        "retries": Range(0, integer=True),
        "requests_per_minute": Range(1, integer=True),
        "write_genres": OneOf(*WRITE_GENRES),
        "genre_source": OneOf(*GENRE_SOURCES),
    },
    "sonicanalysis": {
        "auto": Flag(),
        "workers": Range(0, integer=True),
        "set_bpm": Flag(),
        "executor": OneOf("local", "dask"),
        "scheduler": Text(optional=True),
        "path_map": Table(Text()),
    },
    "buildartifacts": {
        "weights": {
            "track": _SHARE,
            "album": _SHARE,
            "artist": _SHARE,
            "sources": Table(_SHARE),
        },
        "min_count": Range(1, integer=True),
        "max_genres": Range(0, integer=True),
        "synonyms": Table(Text()),
        "drop": Names(),
        "drop_broad": Names(),
        "tower_weights": Vector("a list of 3 numbers ≥ 0 (rhythm, timbre, harmony)", *[_SHARE] * 3),
        "tower_components": Vector(
            "a list of 3 integers ≥ 1 (rhythm ≤ {}, timbre ≤ {}, harmony ≤ {})".format(
                *(int(c.high or 0) for c in _COMPONENTS)
            ),
            *_COMPONENTS,
        ),
        "hybrid_weights": Vector("a list of 2 numbers ≥ 0 (sonic, genre)", _SHARE, _SHARE),
    },
    "dsplaylist": {
        "count": Range(1, integer=True),
        "mode": OneOf(*MODE_NAMES),
        "max_per_artist": Range(0, integer=True),
        "max_per_album": Range(0, integer=True),
        "max_seeds": Range(0, integer=True),
        "similar_k": Range(1, integer=True),
        "relative": Flag(),
        "modes": {
            name: {
                "genre_gate": Range(0.0, 1.0, optional=True),  # genre similarity
                "sonic_floor": Range(-1.0, 1.0),  # sonic cosine
            }
            for name in MODE_NAMES
        },
    },
}


def _check(view: confuse.ConfigView, schema: Mapping[str, Any]) -> None:
    for key, template in schema.items():
        sub = view[key]
        if isinstance(template, Mapping):
            if sub.exists() and not isinstance(sub.get(), dict):
                raise confuse.ConfigTypeError(
                    f"{sub.name}: expected a mapping with keys {', '.join(template)}, "
                    f"got {_show(sub.get())}"
                )
            _check(sub, template)
        else:
            sub.get(template)


def validate(config: confuse.ConfigView, sections: Sequence[str] = tuple(SCHEMA)) -> None:
    """Check the dspipeline `sections` of ``config`` (default: all); raises
    ``confuse.ConfigError`` (one line naming the key and what was expected) at the first bad
    value."""
    for section in sections:
        _check(config[section], SCHEMA[section])

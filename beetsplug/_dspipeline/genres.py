"""Genre normalisation and per-track genre weights.

One :class:`GenreNormaliser` serves the genre-similarity matrix and the DS artifacts, so both
use the same vocabulary. Its tables live in ``genre_rules.json`` next to this module and can be
extended from config.

Splitting rule: a raw string is split on ``, ; / | \\`` and line breaks; a part that starts with
``&`` or ``and`` loses that word (Discogs writes "Folk, World, & Country"). ``&`` on its own never
splits, so "R&B", "Rock & Roll", "Drum & Bass" and "Stage & Screen" stay whole. A raw string whose
whole lookup key is in the tables (e.g. "N/A") is not split at all.
"""

from __future__ import annotations

import fnmatch
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

__all__ = [
    "DEFAULT_BROAD_GENRES",
    "GenreNormaliser",
    "GenreWeights",
    "genre_key",
    "load_genre_rules",
    "track_genre_weights",
]

_SPLIT = re.compile(r"\s*[,;/|\\\n\r\t]+\s*")
_LEADING_CONJUNCTION = re.compile(r"^(?:&|and\b)\s*")
_AMPERSAND = re.compile(r"\s*&\s*")
# "drum 'n' bass", "rock n roll", "rock'n'roll": only a standalone n, so "rockin' blues" is safe.
_N_CONJUNCTION = re.compile(r"(?<=\w)'n'(?=\w)|\s+'?n'?\s+")
_KEY_REMOVE = re.compile(r"[\s\-_.'’`]+")
_SPACES = re.compile(r"\s+")
_HYPHEN_SPACES = re.compile(r"\s*-\s*")
_EDGE_PUNCTUATION = " \t\"'`’“”.,;:!?()[]{}<>*#~=+"


def load_genre_rules() -> dict[str, Any]:
    """The packaged tables of ``genre_rules.json`` as a dict."""
    text = resources.files(__package__).joinpath("genre_rules.json").read_text("utf-8")
    rules: dict[str, Any] = json.loads(text)
    return rules


def _clean(text: str) -> str:
    """NFKC, lower-case, single spaces, no spaces around hyphens, no edge punctuation."""
    cleaned = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    cleaned = _SPACES.sub(" ", cleaned).strip(_EDGE_PUNCTUATION)
    return _HYPHEN_SPACES.sub("-", cleaned)


def genre_key(text: str) -> str:
    """The lookup key of a genre: cleaned, ``&``/``n``/``and`` unified, separators removed.

    "Synth Pop", "synthpop" and "Synth-Pop" share one key; so do "Drum & Bass",
    "drum 'n' bass" and "Drum and Bass".
    """
    key = _AMPERSAND.sub(" and ", _clean(text))
    key = _N_CONJUNCTION.sub(" and ", key)
    return _KEY_REMOVE.sub("", key)


DEFAULT_BROAD_GENRES: tuple[str, ...] = tuple(load_genre_rules()["broad"])


class GenreNormaliser:
    """Turns raw genre strings into canonical genre names.

    ``extra_synonyms`` maps further names onto canonical ones (a target that is itself a known
    name resolves to that name's canonical form); ``extra_drop`` removes further genres;
    ``drop_broad`` removes broad genres such as "rock" (see :data:`DEFAULT_BROAD_GENRES`).
    Matching is by whole genre only, never by substring.
    """

    def __init__(
        self,
        extra_synonyms: Mapping[str, str] | None = None,
        extra_drop: Iterable[str] = (),
        drop_broad: Iterable[str] = (),
        *,
        rules: Mapping[str, Any] | None = None,
    ) -> None:
        table = dict(load_genre_rules() if rules is None else rules)
        self._lookup: dict[str, str] = {}
        for name in table.get("canonical", ()):
            self._lookup[genre_key(name)] = _clean(name)
        for name, target in dict(table.get("synonyms", {})).items():
            self._lookup[genre_key(name)] = self._resolve(target)
        for name, target in dict(extra_synonyms or {}).items():
            if not _clean(target):
                raise ValueError(f"genre synonym {name!r}: empty target (use extra_drop)")
            self._lookup[genre_key(name)] = self._resolve(target)
        self._drop_keys = {genre_key(name) for name in table.get("drop", ())}
        try:
            self._drop_patterns = [re.compile(p) for p in table.get("drop_patterns", ())]
        except re.error as exc:
            raise ValueError(f"genre rules: bad drop pattern ({exc})") from None
        # Config drops and broad genres remove the canonical genre whatever it was spelt as.
        self._drop_canonical = {self._resolve(name) for name in extra_drop} | {
            self._resolve(name) for name in drop_broad
        }
        self._drop_keys |= {genre_key(name) for name in extra_drop}
        self._cache: dict[str, list[str]] = {}

    def _resolve(self, name: str) -> str:
        return self._lookup.get(genre_key(name), _clean(name))

    def canonical(self, part: str) -> str | None:
        """Canonical name of one genre (no splitting); None when it is dropped."""
        key = genre_key(part)
        cleaned = _clean(part)
        if not key or key in self._drop_keys or not any(ch.isalpha() for ch in cleaned):
            return None
        if any(pattern.match(cleaned) for pattern in self._drop_patterns):
            return None
        name = self._lookup.get(key, cleaned)
        return None if name in self._drop_canonical else name

    def normalise(self, raw: str) -> list[str]:
        """Canonical genres in ``raw``, in order of appearance, without duplicates."""
        cached = self._cache.get(raw)
        if cached is None:
            cached = self._cache[raw] = self._normalise(raw)
        return list(cached)

    def _normalise(self, raw: str) -> list[str]:
        whole_key = genre_key(raw)
        if whole_key in self._lookup or whole_key in self._drop_keys:
            parts = [raw]
        else:
            parts = [_LEADING_CONJUNCTION.sub("", part) for part in _SPLIT.split(raw)]
        result: list[str] = []
        for part in parts:
            name = self.canonical(part)
            if name is not None and name not in result:
                result.append(name)
        return result


@dataclass(frozen=True)
class GenreWeights:
    """Weights per level (track, album, artist) and per source name.

    ``sources`` keys are source names or shell-style patterns (``"musicbrainz_*"``); an exact
    name wins over a pattern; unknown sources weigh 1.0.
    """

    track: float = 1.0
    album: float = 0.8
    artist: float = 0.5
    sources: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = {"track": self.track, "album": self.album, "artist": self.artist}
        values.update({f"source {name!r}": value for name, value in self.sources.items()})
        for label, value in values.items():
            if not value >= 0.0:
                raise ValueError(f"genre weight for {label} must be >= 0, got {value!r}")

    def source_weight(self, source: str) -> float:
        """Weight of ``source`` (exact name, else first matching pattern, else 1.0)."""
        if source in self.sources:
            return float(self.sources[source])
        for pattern, value in self.sources.items():
            if fnmatch.fnmatchcase(source, pattern):
                return float(value)
        return 1.0


TRACK_SOURCE = "beets"


def track_genre_weights(
    track_genres: Sequence[str],
    album_genres: Sequence[tuple[str, str]],
    artist_genres: Sequence[tuple[str, str]],
    normaliser: GenreNormaliser,
    weights: GenreWeights | None = None,
) -> dict[str, float]:
    """Genre → weight for one track.

    ``track_genres`` are the item's raw genre strings (source "beets"); ``album_genres`` and
    ``artist_genres`` are ``(source, raw genre)`` pairs. A raw string weighs
    level weight × source weight, shared equally between the genres it yields (dropped parts
    take no share); a genre seen several times keeps its maximum weight.
    """
    weights = weights or GenreWeights()
    result: dict[str, float] = {}
    entries = [(weights.track, TRACK_SOURCE, raw) for raw in track_genres]
    entries += [(weights.album, source, raw) for source, raw in album_genres]
    entries += [(weights.artist, source, raw) for source, raw in artist_genres]
    for level_weight, source, raw in entries:
        weight = level_weight * weights.source_weight(source)
        names = normaliser.normalise(raw)
        if weight <= 0.0 or not names:
            continue
        share = weight / len(names)
        for name in names:
            if share > result.get(name, 0.0):
                result[name] = share
    return result

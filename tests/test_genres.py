"""Genre normaliser and per-track genre weights."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beetsplug._dspipeline.genres import (
    DEFAULT_BROAD_GENRES,
    GenreNormaliser,
    GenreWeights,
    genre_key,
    load_genre_rules,
    track_genre_weights,
)

NORMALISER = GenreNormaliser()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Folk, World, & Country", ["folk", "world", "country"]),
        ("Funk / Soul", ["funk", "soul"]),
        ("Drum n Bass", ["drum and bass"]),
        ("Drum & Bass", ["drum and bass"]),
        ("drum'n'bass", ["drum and bass"]),
        ("DnB", ["drum and bass"]),
        ("R&B", ["r&b"]),
        ("Rhythm & Blues", ["r&b"]),
        ("Rock & Roll", ["rock and roll"]),
        ("rock 'n' roll", ["rock and roll"]),
        ("Stage & Screen", ["stage & screen"]),
        ("electronic", ["electronic"]),
        ("Electronic", ["electronic"]),
        ("Electronica", ["electronic"]),
        ("Synthpop", ["synth-pop"]),
        ("Synth Pop", ["synth-pop"]),
        ("hip hop", ["hip hop"]),
        ("Hip-Hop", ["hip hop"]),
        ("HipHop", ["hip hop"]),
        ("Rap", ["hip hop"]),
        ("Hip Hop/Rap", ["hip hop"]),
        ("Ｒｏｃｋ", ["rock"]),
        ("Post Rock", ["post-rock"]),
        ("Rock; Seen Live", ["rock"]),
        ("rockin' blues", ["rockin' blues"]),
        ("Musique Concrete", ["musique concrète"]),
        ("Techno, Techno", ["techno"]),
    ],
)
def test_normalise_known_forms(raw: str, expected: list[str]) -> None:
    assert NORMALISER.normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["Seen Live", "favourites", "80s", "1980s", "'90s", "2010s", "1994", "__EMPTY__", "unknown",
     "Misc", "N/A", "British", "japanese", "female vocalists", "", "   ", "???", "-"],
)  # fmt: skip
def test_meta_tags_and_placeholders_are_dropped(raw: str) -> None:
    assert NORMALISER.normalise(raw) == []


def test_unknown_genre_is_cleaned_not_rewritten() -> None:
    assert NORMALISER.normalise("  Zeuhl  ") == ["zeuhl"]
    assert NORMALISER.normalise("Electronicore") == ["electronicore"]
    assert NORMALISER.normalise("Neo - Psychedelia") == ["neo-psychedelia"]


def test_extra_synonyms_and_drops_from_config() -> None:
    normaliser = GenreNormaliser(
        extra_synonyms={"Krautrock Revival": "krautrock", "Nu Gaze": "Shoegaze"},
        extra_drop=["Zeuhl"],
    )
    assert normaliser.normalise("krautrock revival") == ["krautrock"]
    assert normaliser.normalise("nu-gaze") == ["shoegaze"]
    assert normaliser.normalise("Zeuhl, Jazz") == ["jazz"]
    with pytest.raises(ValueError, match="empty target"):
        GenreNormaliser(extra_synonyms={"x": "  "})


def test_drop_broad_removes_canonical_whatever_the_spelling() -> None:
    normaliser = GenreNormaliser(drop_broad=["Electronica", "rock"])
    assert normaliser.normalise("Electronic, Techno, Rock, Post-Rock") == ["techno", "post-rock"]
    default_broad = GenreNormaliser(drop_broad=DEFAULT_BROAD_GENRES)
    assert default_broad.normalise("Pop, Synth-pop, Hip Hop, Trip Hop") == ["synth-pop", "trip hop"]


def test_packaged_rules_are_consistent() -> None:
    rules = load_genre_rules()
    canonical_keys = {genre_key(name) for name in rules["canonical"]}
    # Every synonym points at a canonical genre, and nothing is both dropped and canonical.
    assert {genre_key(t) for t in rules["synonyms"].values()} <= canonical_keys
    assert not canonical_keys & {genre_key(name) for name in rules["drop"]}
    for name in rules["canonical"]:
        assert NORMALISER.normalise(name) == [name], name


def test_custom_rules_table_is_used(tmp_path: object) -> None:
    rules = {"canonical": ["a-b"], "synonyms": {"ab music": "a-b"}, "drop": ["x"]}
    normaliser = GenreNormaliser(rules=json.loads(json.dumps(rules)))
    assert normaliser.normalise("AB Music, X, a b") == ["a-b"]
    with pytest.raises(ValueError, match="bad drop pattern"):
        GenreNormaliser(rules={"drop_patterns": ["("]})


genre_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(genre_text)
def test_normalise_is_idempotent(raw: str) -> None:
    first = NORMALISER.normalise(raw)
    assert len(first) == len(set(first))
    for name in first:
        assert name == name.strip() and name
        assert NORMALISER.normalise(name) == [name]


@given(st.lists(st.sampled_from(load_genre_rules()["canonical"]), min_size=1, max_size=5))
def test_comma_joined_canonicals_split_back(names: list[str]) -> None:
    unique = list(dict.fromkeys(names))
    assert NORMALISER.normalise(", ".join(names)) == unique


def test_track_weights_levels_shares_and_max() -> None:
    weights = track_genre_weights(
        ["Funk / Soul"],
        [("discogs_release", "Electronic"), ("discogs_master", "Techno, House, Seen Live")],
        [("lastfm", "Soul"), ("lastfm", "__EMPTY__")],
        NORMALISER,
    )
    assert weights == pytest.approx(
        {"funk": 0.5, "soul": 0.5, "electronic": 0.8, "techno": 0.4, "house": 0.4}
    )


def test_track_weights_configurable_levels_and_sources() -> None:
    config = GenreWeights(
        track=1.2, album=1.0, artist=0.4,
        sources={"discogs_master": 0.5, "musicbrainz_*": 0.25, "beets": 0.0},
    )  # fmt: skip
    weights = track_genre_weights(
        ["Jazz"],
        [("discogs_master", "Free Jazz"), ("musicbrainz_release_group", "Bebop")],
        [("discogs_artist", "Fusion")],
        NORMALISER,
        config,
    )
    assert weights == pytest.approx({"free jazz": 0.5, "bebop": 0.25, "fusion": 0.4})
    assert config.source_weight("other") == 1.0


def test_negative_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="source 'x'"):
        GenreWeights(sources={"x": -1.0})
    with pytest.raises(ValueError, match="album"):
        GenreWeights(album=float("nan"))

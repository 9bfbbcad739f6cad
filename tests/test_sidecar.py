"""The sidecar store on a real SQLite file."""

from __future__ import annotations

import hashlib
import sqlite3
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from beetsplug._dspipeline.keys import album_key, track_key
from beetsplug._dspipeline.sidecar import (
    EMPTY_MARKER,
    SCHEMA_VERSION,
    AlbumRow,
    DiscogsOutcome,
    FileIdentity,
    Sidecar,
    SidecarError,
    StoredFeatures,
)


def _rows(path: Path, album_id: str) -> set[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return set(
            conn.execute(
                "SELECT genre, source FROM album_genres WHERE album_id = ?", (album_id,)
            ).fetchall()
        )


def test_album_key_matches_reference_for_ascii_and_normalises_unicode() -> None:
    reference = hashlib.md5(b"kraftwerk|computer world").hexdigest()[:16]
    assert album_key("Kraftwerk", "Computer World") == reference
    decomposed = unicodedata.normalize("NFD", "Björk")
    assert album_key(decomposed, "Homogenic") == album_key("Björk", "Homogenic")
    assert album_key("Björk", "Homogenic") != album_key("Bjork", "Homogenic")
    assert len(album_key("坂本龍一", "音楽図鑑")) == 16


def test_track_key_prefers_release_track_id_and_ignores_path() -> None:
    a = track_key("A", "B", 1, 2, "T")
    assert a == track_key("a", "b", 1, 2, "t")
    assert a != track_key("A", "B", 1, 3, "T")
    assert track_key("A", "B", 1, 2, "T", "mbid-1") != a


def test_schema_created_with_exact_album_genres_table(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dspipeline.db"
    Sidecar(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        cols = conn.execute("PRAGMA table_info(album_genres)").fetchall()
    assert [(c[1], c[2], c[3], c[5]) for c in cols] == [
        ("album_id", "TEXT", 1, 1),
        ("genre", "TEXT", 1, 2),
        ("source", "TEXT", 1, 3),
    ]


def test_busy_timeout_is_at_least_30s(tmp_path: Path) -> None:
    sidecar = Sidecar(tmp_path / "s.db")
    assert sidecar._query("PRAGMA busy_timeout")[0][0] >= 30000
    sidecar.close()


def test_adopts_reference_table_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "ref.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE album_genres (album_id TEXT NOT NULL, genre TEXT NOT NULL, "
            "source TEXT NOT NULL, PRIMARY KEY (album_id, genre, source))"
        )
        conn.execute("INSERT INTO album_genres VALUES ('abc', 'rock', 'musicbrainz_release')")
    with Sidecar(path) as sidecar:
        assert sidecar.schema_version == SCHEMA_VERSION
        assert sidecar.album_genres() == {"abc": [("rock", "musicbrainz_release")]}


def test_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SidecarError, match=r"new\.db.*newer"):
        Sidecar(path)


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SidecarError, match=r"junk\.db"):
        Sidecar(path)


def test_discogs_outcomes_replace_only_discogs_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    sidecar = Sidecar(path)
    album = AlbumRow(album_key("Björk", "Homogenic"), 7, "Björk", "Homogenic", 1997)
    with sidecar.transaction() as conn:
        conn.execute(
            "INSERT INTO album_genres VALUES (?, 'art pop', 'musicbrainz_release')",
            (album.album_id,),
        )
    sidecar.store_discogs_outcome(
        album, DiscogsOutcome("hit", ["electronic"], ["trip hop", "experimental"], 11, 22)
    )
    assert _rows(path, album.album_id) == {
        ("art pop", "musicbrainz_release"),
        ("electronic", "discogs_release"),
        ("trip hop", "discogs_master"),
        ("experimental", "discogs_master"),
    }
    assert sidecar.last_lookup_ids(album.album_id) == (11, 22)

    # A later definite miss replaces the Discogs rows with the marker; others stay.
    sidecar.store_discogs_outcome(album, DiscogsOutcome("miss"))
    assert _rows(path, album.album_id) == {
        ("art pop", "musicbrainz_release"),
        (EMPTY_MARKER, "discogs_release"),
    }
    assert sidecar.albums_marked_empty() == {album.album_id}
    assert album.album_id in sidecar.albums_with_discogs_rows()

    # An error after retries writes no marker and keeps what was there.
    sidecar.store_discogs_outcome(album, DiscogsOutcome("error", error="HTTP 500"))
    assert (EMPTY_MARKER, "discogs_release") in _rows(path, album.album_id)
    assert sidecar.discogs_status_counts() == {"hit": 0, "miss": 0, "error": 1}


def test_error_on_a_new_album_leaves_it_to_be_retried(tmp_path: Path) -> None:
    sidecar = Sidecar(tmp_path / "s.db")
    album = AlbumRow("k1", 1, "A", "B", None)
    sidecar.store_discogs_outcome(album, DiscogsOutcome("error", error="timeout"))
    assert sidecar.albums_with_discogs_rows() == set()
    assert sidecar.album_genres() == {}


def _features(key: str, value: float) -> StoredFeatures:
    vec = np.full(137, value, dtype=np.float32)
    return StoredFeatures(
        audio_key=key,
        extractor="beat3tower",
        extractor_version="1",
        full=vec,
        start=vec + 1,
        mid=vec + 2,
        end=vec + 3,
        duration=30.0,
        sample_rate=44100,
        n_beats=60,
        beat_fallback=False,
        bpm=120.0,
        tempo_stability=0.9,
        half_tempo_likely=False,
        double_tempo_likely=True,
        analysed_at=1.0,
    )


def test_features_round_trip_and_relink(tmp_path: Path) -> None:
    sidecar = Sidecar(tmp_path / "s.db")
    ident = FileIdentity(b"/music/a.flac", 1000, 5.0)
    sidecar.record_failure(1, ident.path, ident, "corrupt", "a.flac: corrupt")
    sidecar.store_features(1, ident, _features("h1", 0.5))
    assert sidecar.failed_item_ids() == set()  # success clears the failure
    got = sidecar.features_for_items()[1]
    assert got.end.dtype == np.float32 and float(got.end[0]) == 3.5
    assert got.double_tempo_likely is True
    # A moved copy of the same audio (new item, new path) links to the same vectors.
    moved = FileIdentity(b"/music/b.flac", 1000, 9.0)
    sidecar.link_file(2, moved, "h1")
    index = sidecar.sonic_index()
    assert index.key_for_identity(moved) == "h1"
    assert index.versions == {"h1": "1"} and not index.has_unlinked_features()
    assert set(sidecar.features_for_items([1, 2])) == {1, 2}


def test_bad_vectors_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    sidecar = Sidecar(tmp_path / "s.db")
    bad = _features("h2", float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        sidecar.store_features(1, FileIdentity(b"/x", 1, 1.0), bad)
    assert sidecar.features_for_items() == {}
    assert sidecar.sonic_index().links == {}


def test_version_1_sidecar_migrates_to_artist_genres(tmp_path: Path) -> None:
    from beetsplug._dspipeline.sidecar import _MIGRATIONS

    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:
        for statement in _MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO album_genres VALUES ('k', 'jazz', 'discogs_release')")
    with Sidecar(path) as sidecar:
        assert sidecar.schema_version == SCHEMA_VERSION == 3
        assert sidecar.album_genres() == {"k": [("jazz", "discogs_release")]}
        with sidecar.transaction() as conn:
            conn.execute("INSERT INTO artist_genres VALUES ('björk', 'art pop', 'lastfm_artist')")
        assert sidecar.artist_genres() == {"björk": [("art pop", "lastfm_artist")]}


def test_data_version_moves_with_artifact_inputs_only(tmp_path: Path) -> None:
    from beetsplug._dspipeline.sidecar import AlbumRow, DiscogsOutcome

    with Sidecar(tmp_path / "s.db") as sidecar:
        album = AlbumRow("k", 1, "A", "B", None)
        start = sidecar.data_version()
        sidecar.store_discogs_outcome(album, DiscogsOutcome(status="error", error="timeout"))
        sidecar.record_failure(7, b"/x.flac", None, "missing", "/x.flac: file not found")
        assert sidecar.data_version() == start  # a network error or a failure changes no input
        sidecar.store_discogs_outcome(album, DiscogsOutcome(status="hit", genres=("Jazz",)))
        after_hit = sidecar.data_version()
        assert after_hit > start
        sidecar.link_file(7, FileIdentity(b"/x.flac", 1, 1.0), "key")
        assert sidecar.data_version() > after_hit

"""The sidecar SQLite store: the one module that owns its schema.

Tables (schema version in ``PRAGMA user_version``):

- ``album_genres(album_id, genre, source)`` — the table the reference tools read. ``album_id`` is
  :func:`keys.album_key`. Sources ``discogs_release`` (Discogs genres) and ``discogs_master``
  (Discogs styles) are ours; rows of any other source belong to other tools and are never touched.
- ``artist_genres(artist, genre, source)`` — artist-level genres other tools write
  (``artist`` is :func:`keys.artist_name_key`); read, never written, by us.
- ``albums`` — album key ↔ beets album id, names as they were when last seen.
- ``discogs_lookups`` — the outcome of the last Discogs lookup per album (hit / miss / error).
- ``sonic_features`` — float32 feature vectors keyed by a hash of the decoded audio, so moves,
  re-imports and tag edits of unchanged audio don't force re-analysis.
- ``sonic_files`` — beets item id → file identity (path, size, mtime) → audio key.
- ``sonic_failures`` — per item: why analysis failed.
- ``data_version`` — one counter, bumped by triggers on every change to the tables the artifacts
  are built from (genres, features, links); lookups and failures leave it alone. Builds record
  it, so "the artifacts are stale" is exact.

Every write runs in one ``BEGIN IMMEDIATE`` transaction, so a killed process leaves whole rows.
Every SQLite error (at open or from any query) leaves this module as a one-line
:class:`SidecarError` naming the file, the cause and what to do about it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

SCHEMA_VERSION = 3
DISCOGS_GENRE_SOURCE = "discogs_release"
DISCOGS_STYLE_SOURCE = "discogs_master"
DISCOGS_SOURCES = (DISCOGS_GENRE_SOURCE, DISCOGS_STYLE_SOURCE)
EMPTY_MARKER = "__EMPTY__"
FEATURE_DIM = 137

LookupStatus = Literal["hit", "miss", "error"]

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        # IF NOT EXISTS: adopt a table the reference tools created in an existing sidecar.
        """CREATE TABLE IF NOT EXISTS album_genres (
            album_id TEXT NOT NULL, genre TEXT NOT NULL, source TEXT NOT NULL,
            PRIMARY KEY (album_id, genre, source))""",
        """CREATE TABLE albums (
            album_id TEXT PRIMARY KEY, beets_album_id INTEGER, albumartist TEXT NOT NULL,
            album TEXT NOT NULL, year INTEGER, updated_at REAL NOT NULL)""",
        "CREATE INDEX albums_by_beets_id ON albums(beets_album_id)",
        """CREATE TABLE discogs_lookups (
            album_id TEXT PRIMARY KEY,
            status TEXT NOT NULL CHECK (status IN ('hit', 'miss', 'error')),
            release_id INTEGER, master_id INTEGER, score REAL, matched_title TEXT,
            error TEXT, requests INTEGER NOT NULL DEFAULT 0, looked_up_at REAL NOT NULL)""",
        """CREATE TABLE sonic_features (
            audio_key TEXT PRIMARY KEY, extractor TEXT NOT NULL, extractor_version TEXT NOT NULL,
            vec_full BLOB NOT NULL, vec_start BLOB NOT NULL, vec_mid BLOB NOT NULL,
            vec_end BLOB NOT NULL, duration REAL NOT NULL, sample_rate INTEGER NOT NULL,
            n_beats INTEGER NOT NULL, beat_fallback INTEGER NOT NULL, bpm REAL NOT NULL,
            tempo_stability REAL NOT NULL, half_tempo_likely INTEGER NOT NULL,
            double_tempo_likely INTEGER NOT NULL, analysed_at REAL NOT NULL)""",
        """CREATE TABLE sonic_files (
            item_id INTEGER PRIMARY KEY, path BLOB NOT NULL, size INTEGER NOT NULL,
            mtime REAL NOT NULL, audio_key TEXT NOT NULL, linked_at REAL NOT NULL)""",
        "CREATE INDEX sonic_files_by_identity ON sonic_files(path, size, mtime)",
        "CREATE INDEX sonic_files_by_key ON sonic_files(audio_key)",
        """CREATE TABLE sonic_failures (
            item_id INTEGER PRIMARY KEY, path BLOB NOT NULL, size INTEGER, mtime REAL,
            reason TEXT NOT NULL, message TEXT NOT NULL, failed_at REAL NOT NULL)""",
    ),
    2: (
        # Artist-level genres written by other tools (e.g. a Last.fm or MusicBrainz artist
        # lookup); `artist` is keys.artist_name_key(name). buildartifacts weighs them as artist
        # level genres.
        """CREATE TABLE IF NOT EXISTS artist_genres (
            artist TEXT NOT NULL, genre TEXT NOT NULL, source TEXT NOT NULL,
            PRIMARY KEY (artist, genre, source))""",
    ),
    3: (
        "CREATE TABLE data_version (version INTEGER NOT NULL)",
        "INSERT INTO data_version(version) VALUES (0)",
        *(
            f"""CREATE TRIGGER {table}_{event.lower()}_bumps_version AFTER {event} ON {table}
                BEGIN UPDATE data_version SET version = version + 1; END"""
            for table in ("album_genres", "artist_genres", "sonic_features", "sonic_files")
            for event in ("INSERT", "UPDATE", "DELETE")
        ),
    ),
}


_UPSERT_ALBUM = """
    INSERT INTO albums(album_id, beets_album_id, albumartist, album, year, updated_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT(album_id) DO UPDATE SET beets_album_id = excluded.beets_album_id,
      albumartist = excluded.albumartist, album = excluded.album,
      year = excluded.year, updated_at = excluded.updated_at"""


class SidecarError(Exception):
    """The sidecar file cannot be used (damaged, disk full, newer schema, ...): one line."""


def _advice(path: Path, exc: sqlite3.Error) -> str:
    """What the user can do about an SQLite error, by its cause."""
    cause = str(exc).lower()
    if "full" in cause:  # SQLITE_FULL: "database or disk is full"
        return (
            "free space on its filesystem and run again (the interrupted write was rolled "
            "back; nothing stored before it is lost)"
        )
    if "locked" in cause or "busy" in cause:
        return "another process held it for over 30 s; run again when that one has finished"
    if "readonly" in cause or "unable to open" in cause or "permission" in cause:
        return "check that the file and its directory exist and are writable by you"
    return (
        f"restore it from a backup, or rescue what is readable with "
        f"`sqlite3 {path} .recover | sqlite3 {path}.recovered`, then move that over it"
    )


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """The one place SQLite errors become :class:`SidecarError` (open, queries, writes)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise SidecarError(f"sidecar {path}: {exc}; {_advice(path, exc)}") from exc


@dataclass(frozen=True)
class AlbumRow:
    album_id: str
    beets_album_id: int | None
    albumartist: str
    album: str
    year: int | None


@dataclass(frozen=True)
class DiscogsOutcome:
    """What one Discogs lookup found, as the sidecar stores it."""

    status: LookupStatus
    genres: Sequence[str] = ()
    styles: Sequence[str] = ()
    release_id: int | None = None
    master_id: int | None = None
    score: float | None = None
    matched_title: str | None = None
    error: str | None = None
    requests: int = 0


@dataclass(frozen=True)
class FileIdentity:
    """What identifies a file on disk without reading it: path (bytes), size, mtime."""

    path: bytes
    size: int
    mtime: float


@dataclass(frozen=True)
class StoredFeatures:
    audio_key: str
    extractor: str
    extractor_version: str
    full: np.ndarray
    start: np.ndarray
    mid: np.ndarray
    end: np.ndarray
    duration: float
    sample_rate: int
    n_beats: int
    beat_fallback: bool
    bpm: float
    tempo_stability: float
    half_tempo_likely: bool
    double_tempo_likely: bool
    analysed_at: float


@dataclass(frozen=True)
class SonicIndex:
    """Links, failures and stored extractor versions of the sonic tables, as dicts."""

    links: dict[int, tuple[FileIdentity, str]]  # item id → (file identity, audio key)
    failures: dict[int, tuple[FileIdentity | None, str]]  # item id → (identity, reason)
    versions: dict[str, str]  # audio key → extractor version

    def key_for_identity(self, ident: FileIdentity) -> str | None:
        """Audio key of any item last seen at exactly this path, size and mtime."""
        return self._by_identity.get(ident)

    @cached_property
    def _by_identity(self) -> dict[FileIdentity, str]:
        return {ident: key for ident, key in self.links.values()}

    def has_unlinked_features(self) -> bool:
        """Stored vectors that no item points at (their items were removed or re-imported)."""
        return bool(self.versions.keys() - {key for _, key in self.links.values()})


@dataclass(frozen=True)
class SonicFailure:
    item_id: int
    path: bytes
    reason: str
    message: str
    failed_at: float


def _vec_to_blob(vec: np.ndarray) -> bytes:
    arr = np.asarray(vec, dtype="<f4")
    if arr.shape != (FEATURE_DIM,):
        raise ValueError(f"feature vector has shape {arr.shape}, expected ({FEATURE_DIM},)")
    if not np.all(np.isfinite(arr)):
        raise ValueError("feature vector contains NaN or inf")
    return arr.tobytes()


def _blob_to_vec(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


class Sidecar:
    """One connection to the sidecar file; safe to share between threads (serialised)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        in_memory = str(path) == ":memory:"
        #: the file was absent (a new sidecar) or empty (0 bytes): it starts with no data;
        #: ``new_directory``: even its directory was missing (a typo in the path?).
        self.created = False
        self.was_empty = False
        self.new_directory = not in_memory and not self.path.parent.exists()
        if not in_memory:
            try:
                self.was_empty = self.path.stat().st_size == 0
            except FileNotFoundError:
                self.created = True
            except OSError as exc:
                raise SidecarError(f"sidecar {self.path}: cannot open: {exc}") from exc
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SidecarError(f"sidecar {self.path}: cannot create its directory: {exc}") from exc
        with _sqlite_errors(self.path):
            self._conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA busy_timeout = 30000")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._lock = threading.RLock()
        self._migrate()

    # -- plumbing ---------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock, _sqlite_errors(self.path):
            self._conn.close()

    def __enter__(self) -> Sidecar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it lands, or none of it."""
        with self._lock, _sqlite_errors(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:  # SQLite may have rolled back already (disk full)
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock, _sqlite_errors(self.path):
            return self._conn.execute(sql, params).fetchall()

    def _migrate(self) -> None:
        version = int(self._query("PRAGMA user_version")[0][0])
        if version > SCHEMA_VERSION:
            raise SidecarError(
                f"sidecar {self.path}: schema version {version} is newer than this "
                f"beets-dspipeline understands ({SCHEMA_VERSION}); upgrade the plugin"
            )
        if version == SCHEMA_VERSION:
            return
        # One transaction for every step (a full disk leaves the old version whole), and the
        # version read again under its lock: another process may have migrated meanwhile.
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[target]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    def data_version(self) -> int:
        """A counter that changes whenever an input of the artifacts changes."""
        return int(self._query("SELECT version FROM data_version")[0][0])

    # -- albums and Discogs -------------------------------------------------------------------
    def albums_with_discogs_rows(self) -> set[str]:
        """Album keys that have any Discogs row, the ``__EMPTY__`` marker included."""
        rows = self._query(
            "SELECT DISTINCT album_id FROM album_genres WHERE source IN (?, ?)", DISCOGS_SOURCES
        )
        return {str(r[0]) for r in rows}

    def albums_marked_empty(self) -> set[str]:
        rows = self._query(
            "SELECT DISTINCT album_id FROM album_genres WHERE genre = ? AND source IN (?, ?)",
            (EMPTY_MARKER, *DISCOGS_SOURCES),
        )
        return {str(r[0]) for r in rows}

    def store_discogs_outcome(self, album: AlbumRow, outcome: DiscogsOutcome) -> None:
        """Record one lookup; replaces only this album's Discogs rows, in one transaction.

        A hit writes its genres/styles; a miss (or a hit with nothing in it) writes the
        ``__EMPTY__`` marker; an error writes no marker, so the album is tried again next run.
        """
        now = time.time()
        rows: list[tuple[str, str, str]] = []
        if outcome.status != "error":
            rows = [
                (album.album_id, g, DISCOGS_GENRE_SOURCE) for g in dict.fromkeys(outcome.genres)
            ]
            rows += [
                (album.album_id, s, DISCOGS_STYLE_SOURCE) for s in dict.fromkeys(outcome.styles)
            ]
            if not rows:
                rows = [(album.album_id, EMPTY_MARKER, DISCOGS_GENRE_SOURCE)]
        with self.transaction() as conn:
            conn.execute(
                _UPSERT_ALBUM,
                (
                    album.album_id,
                    album.beets_album_id,
                    album.albumartist,
                    album.album,
                    album.year,
                    now,
                ),
            )
            if outcome.status != "error":
                conn.execute(
                    "DELETE FROM album_genres WHERE album_id = ? AND source IN (?, ?)",
                    (album.album_id, *DISCOGS_SOURCES),
                )
                conn.executemany(
                    "INSERT INTO album_genres(album_id, genre, source) VALUES (?, ?, ?)", rows
                )
            conn.execute(
                """INSERT OR REPLACE INTO discogs_lookups(album_id, status, release_id, master_id,
                     score, matched_title, error, requests, looked_up_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    album.album_id,
                    outcome.status,
                    outcome.release_id,
                    outcome.master_id,
                    outcome.score,
                    outcome.matched_title,
                    outcome.error,
                    outcome.requests,
                    now,
                ),
            )

    def last_lookup_ids(self, album_id: str) -> tuple[int | None, int | None]:
        """(release id, master id) of the album's last Discogs lookup."""
        rows = self._query(
            "SELECT release_id, master_id FROM discogs_lookups WHERE album_id = ?", (album_id,)
        )
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def album_genres(
        self, album_ids: Iterable[str] | None = None
    ) -> dict[str, list[tuple[str, str]]]:
        """album key → [(genre, source)], the ``__EMPTY__`` marker left out."""
        rows = self._query(
            "SELECT album_id, genre, source FROM album_genres WHERE genre != ? "
            "ORDER BY album_id, source, rowid",
            (EMPTY_MARKER,),
        )
        wanted = None if album_ids is None else set(album_ids)
        out: dict[str, list[tuple[str, str]]] = {}
        for album_id, genre, source in rows:
            if wanted is None or album_id in wanted:
                out.setdefault(str(album_id), []).append((str(genre), str(source)))
        return out

    def artist_genres(self) -> dict[str, list[tuple[str, str]]]:
        """artist name key → [(genre, source)]."""
        out: dict[str, list[tuple[str, str]]] = {}
        for artist, genre, source in self._query(
            "SELECT artist, genre, source FROM artist_genres ORDER BY artist, source, rowid"
        ):
            out.setdefault(str(artist), []).append((str(genre), str(source)))
        return out

    def discogs_errors(self) -> dict[str, str]:
        """album key → error message, for albums whose last lookup failed."""
        rows = self._query("SELECT album_id, error FROM discogs_lookups WHERE status = 'error'")
        return {str(k): str(e or "error") for k, e in rows}

    def discogs_status_counts(self) -> dict[str, int]:
        """Last lookup status → number of albums (hit / miss / error)."""
        rows = self._query("SELECT status, COUNT(*) FROM discogs_lookups GROUP BY status")
        counts = {"hit": 0, "miss": 0, "error": 0}
        counts.update({str(s): int(n) for s, n in rows})
        return counts

    # -- sonic features -----------------------------------------------------------------------
    def sonic_index(self) -> SonicIndex:
        """What planning an analysis run needs about every item, in three queries."""
        links = {
            int(item_id): (FileIdentity(bytes(path), int(size), float(mtime)), str(key))
            for item_id, path, size, mtime, key in self._query(
                "SELECT item_id, path, size, mtime, audio_key FROM sonic_files"
            )
        }
        failures = {
            int(item_id): (
                None if size is None else FileIdentity(bytes(path), int(size), float(mtime)),
                str(reason),
            )
            for item_id, path, size, mtime, reason in self._query(
                "SELECT item_id, path, size, mtime, reason FROM sonic_failures"
            )
        }
        versions = {
            str(key): str(version)
            for key, version in self._query(
                "SELECT audio_key, extractor_version FROM sonic_features"
            )
        }
        return SonicIndex(links, failures, versions)

    def link_file(self, item_id: int, ident: FileIdentity, audio_key: str) -> None:
        """Point an item at already stored features (moved / re-imported / re-tagged file)."""
        with self.transaction() as conn:
            self._link(conn, item_id, ident, audio_key)

    @staticmethod
    def _link(conn: sqlite3.Connection, item_id: int, ident: FileIdentity, audio_key: str) -> None:
        conn.execute(
            """INSERT OR REPLACE INTO sonic_files(item_id, path, size, mtime, audio_key, linked_at)
               VALUES (?, ?, ?, ?, ?, ?)""",
            (item_id, ident.path, ident.size, ident.mtime, audio_key, time.time()),
        )
        conn.execute("DELETE FROM sonic_failures WHERE item_id = ?", (item_id,))

    def store_features(self, item_id: int, ident: FileIdentity, feats: StoredFeatures) -> None:
        """Store vectors + metadata and link the item, in one transaction."""
        self.store_features_many([(item_id, ident, feats)])

    def store_features_many(self, rows: Iterable[tuple[int, FileIdentity, StoredFeatures]]) -> None:
        """:meth:`store_features` for many items, all in one transaction."""
        with self.transaction() as conn:
            for item_id, ident, feats in rows:
                blobs = [_vec_to_blob(v) for v in (feats.full, feats.start, feats.mid, feats.end)]
                conn.execute(
                    """INSERT OR REPLACE INTO sonic_features(audio_key, extractor,
                         extractor_version, vec_full, vec_start, vec_mid, vec_end, duration,
                         sample_rate, n_beats, beat_fallback, bpm, tempo_stability,
                         half_tempo_likely, double_tempo_likely, analysed_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        feats.audio_key,
                        feats.extractor,
                        feats.extractor_version,
                        *blobs,
                        feats.duration,
                        feats.sample_rate,
                        feats.n_beats,
                        int(feats.beat_fallback),
                        feats.bpm,
                        feats.tempo_stability,
                        int(feats.half_tempo_likely),
                        int(feats.double_tempo_likely),
                        feats.analysed_at,
                    ),
                )
                self._link(conn, item_id, ident, feats.audio_key)

    def record_failure(
        self, item_id: int, path: bytes, ident: FileIdentity | None, reason: str, message: str
    ) -> None:
        # A path that is not UTF-8 reaches messages as surrogates (os.fsdecode); SQLite text
        # must be UTF-8, so those become visible escapes.
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
        with self.transaction() as conn:
            conn.execute(
                """INSERT OR REPLACE INTO sonic_failures(item_id, path, size, mtime, reason,
                     message, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (
                    item_id,
                    path,
                    ident.size if ident else None,
                    ident.mtime if ident else None,
                    reason,
                    message,
                    time.time(),
                ),
            )

    def failed_item_ids(self) -> set[int]:
        return {int(r[0]) for r in self._query("SELECT item_id FROM sonic_failures")}

    def failures(self) -> list[SonicFailure]:
        rows = self._query(
            "SELECT item_id, path, reason, message, failed_at FROM sonic_failures ORDER BY item_id"
        )
        return [SonicFailure(int(i), bytes(p), str(r), str(m), float(t)) for i, p, r, m, t in rows]

    def feature_versions(self, item_ids: Iterable[int] | None = None) -> dict[int, tuple[str, str]]:
        """item id → (audio key, extractor version) of its stored features; reads no vectors."""
        rows = self._query(
            """SELECT f.item_id, s.audio_key, s.extractor_version
               FROM sonic_files f JOIN sonic_features s ON s.audio_key = f.audio_key"""
        )
        wanted = None if item_ids is None else set(item_ids)
        return {
            int(item_id): (str(key), str(version))
            for item_id, key, version in rows
            if wanted is None or item_id in wanted
        }

    def features_for_items(
        self, item_ids: Iterable[int] | None = None
    ) -> dict[int, StoredFeatures]:
        """item id → stored features (items without features are absent)."""
        rows = self._query(
            """SELECT f.item_id, s.audio_key, s.extractor, s.extractor_version, s.vec_full,
                      s.vec_start, s.vec_mid, s.vec_end, s.duration, s.sample_rate, s.n_beats,
                      s.beat_fallback, s.bpm, s.tempo_stability, s.half_tempo_likely,
                      s.double_tempo_likely, s.analysed_at
               FROM sonic_files f JOIN sonic_features s ON s.audio_key = f.audio_key"""
        )
        wanted = None if item_ids is None else set(item_ids)
        out: dict[int, StoredFeatures] = {}
        for r in rows:
            item_id = int(r[0])
            if wanted is not None and item_id not in wanted:
                continue
            out[item_id] = StoredFeatures(
                audio_key=str(r[1]),
                extractor=str(r[2]),
                extractor_version=str(r[3]),
                full=_blob_to_vec(r[4]),
                start=_blob_to_vec(r[5]),
                mid=_blob_to_vec(r[6]),
                end=_blob_to_vec(r[7]),
                duration=float(r[8]),
                sample_rate=int(r[9]),
                n_beats=int(r[10]),
                beat_fallback=bool(r[11]),
                bpm=float(r[12]),
                tempo_stability=float(r[13]),
                half_tempo_likely=bool(r[14]),
                double_tempo_likely=bool(r[15]),
                analysed_at=float(r[16]),
            )
        return out

"""Seeded playlists from DS artifacts: genre gate, sonic floor, artist diversity, smooth order.

Method (details and measured figures in ``docs/playlist-method.md``):

1. Similarity to the seed set is the maximum over the seeds, so a candidate close to any seed
   counts. Ranking score: cosine of the hybrid embedding (sonic-only mode: of the sonic
   embedding).
2. Genre gate: ``0.6 × cosine(smoothed genre rows) + 0.4 × Jaccard(raw genre sets)`` must reach
   the mode's threshold; tracks without genres fail any gate.
3. Sonic floor: cosine of the normalised sonic embedding must reach the mode's floor.
4. Selection walks candidates by descending score, skipping missing files, repeats of a seen
   artist + title, and artists at their cap.
5. Seeds lead; the rest is chained greedily by transition similarity (end segment embedding of
   the previous track against the start segment embedding of the next), never placing one
   artist twice in a row when any order allows that.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .artifact_format import DATA_FILE, PLAYLIST_KEYS, meta_problem
from .npzio import ArtifactFileError, load_npz, read_json_array, write_text_atomic

if TYPE_CHECKING:
    from scipy import sparse

__all__ = [
    "DEFAULT_MODES",
    "GENRE_COSINE_WEIGHT",
    "GENRE_JACCARD_WEIGHT",
    "Artifacts",
    "ArtifactsError",
    "ArtifactsInvalid",
    "ArtifactsMissing",
    "ModeSettings",
    "PlaylistEntry",
    "PlaylistError",
    "default_max_per_artist",
    "generate_playlist",
    "genre_similarity",
    "load_artifacts",
    "write_m3u",
]

FloatArray = npt.NDArray[np.float32]
StrArray = npt.NDArray[np.str_]

GENRE_COSINE_WEIGHT = 0.6
GENRE_JACCARD_WEIGHT = 0.4


@dataclass(frozen=True)
class ModeSettings:
    """Candidate filters of one mode.

    ``genre_gate``: minimum genre similarity, or None for no gate. ``sonic_floor``: minimum sonic
    cosine. ``use_genre``: rank by the hybrid embedding (True) or by the sonic one alone.
    """

    genre_gate: float | None
    sonic_floor: float
    use_genre: bool


DEFAULT_MODES: Mapping[str, ModeSettings] = {
    "narrow": ModeSettings(genre_gate=0.55, sonic_floor=0.30, use_genre=True),
    "dynamic": ModeSettings(genre_gate=0.30, sonic_floor=0.20, use_genre=True),
    "discover": ModeSettings(genre_gate=None, sonic_floor=0.10, use_genre=True),
    "sonic-only": ModeSettings(genre_gate=None, sonic_floor=0.20, use_genre=False),
}


class ArtifactsError(Exception):
    """The DS artifacts cannot be used; the message is one line naming the file."""


class ArtifactsMissing(ArtifactsError, FileNotFoundError):  # noqa: N818 (API name)
    """The artifacts directory or matrices file does not exist."""


class ArtifactsInvalid(ArtifactsError, ValueError):  # noqa: N818 (API name)
    """The matrices file exists but breaks the artifact contract."""


class PlaylistError(ValueError):
    """A playlist request cannot be served (bad seed, mode or count)."""


@dataclass(frozen=True, eq=False)
class Artifacts:
    """DS artifacts loaded for playlist generation; every array has first dimension N.

    Embedding rows are L2-normalised float32, so dot products are cosines. ``sonic_start`` and
    ``sonic_end`` fall back to ``sonic`` when the segment embeddings are absent.
    """

    path: Path
    track_ids: StrArray
    item_ids: npt.NDArray[np.int64]
    item_paths: StrArray
    artist_keys: StrArray
    track_artists: StrArray
    track_titles: StrArray
    genre_vocab: StrArray
    genre_raw: FloatArray  # (N, G)
    genre_smoothed: FloatArray  # (N, G)
    sonic: FloatArray  # (N, Ks)
    sonic_start: FloatArray  # (N, Ks)
    sonic_end: FloatArray  # (N, Ks)
    hybrid: FloatArray  # (N, Ks + Kg)
    bpm: FloatArray | None  # (N,) beats per minute
    meta: dict[str, Any]

    def __len__(self) -> int:
        return int(self.track_ids.shape[0])

    @cached_property
    def genre_present(self) -> sparse.csr_array:
        """(N, G) sparse 0/1 matrix of the genres each track carries (raw weight > 0)."""
        from scipy import sparse  # on first use: beets imports every enabled plugin per command

        rows, cols = np.nonzero(self.genre_raw > 0)  # 3-4x faster than csr_array(dense)
        ones = np.ones(rows.size, dtype=np.float32)
        return sparse.csr_array((ones, (rows, cols)), shape=self.genre_raw.shape)

    @cached_property
    def genre_counts(self) -> FloatArray:
        """(N,) number of genres per track."""
        return np.asarray(self.genre_present.sum(axis=1), dtype=np.float32).ravel()

    @cached_property
    def genre_norms(self) -> FloatArray:
        """(N,) L2 norms of the smoothed genre rows."""
        squares = np.einsum("ij,ij->i", self.genre_smoothed, self.genre_smoothed)
        norms: FloatArray = np.sqrt(squares, dtype=np.float32)
        return norms

    @cached_property
    def _row_of_item(self) -> dict[int, int]:
        return {int(item_id): row for row, item_id in enumerate(self.item_ids.tolist())}

    def indices_for_items(self, item_ids: Iterable[int]) -> list[int]:
        """Row indices of beets item ids, in the given order; ids not in the artifacts are
        left out (compare lengths to report them)."""
        rows = (self._row_of_item.get(int(item_id)) for item_id in item_ids)
        return [row for row in rows if row is not None]


_OPTIONAL_KEYS = (
    "track_artists",
    "track_titles",
    "bpm_array",
    "dsp_sonic_embedding_start",
    "dsp_sonic_embedding_end",
)


def load_artifacts(path: Path) -> Artifacts:
    """Load ``data_matrices_step1.npz`` from the artifacts directory ``path`` (or the file itself).

    Raises ArtifactsMissing or ArtifactsInvalid with a one-line message naming the file.
    """
    path = Path(path)
    source = path / DATA_FILE if path.is_dir() else path
    if not source.is_file():
        raise ArtifactsMissing(f"{source}: DS artifacts not found (build them first)")
    try:
        # X_sonic is required by the contract but unused here: skip reading it.
        wanted = [key for key in PLAYLIST_KEYS + _OPTIONAL_KEYS if key != "X_sonic"]
        arrays = load_npz(source, required=PLAYLIST_KEYS, keys=wanted)
    except ArtifactFileError as exc:
        raise ArtifactsInvalid(str(exc)) from None
    return _validate(source, arrays)


def _validate(source: Path, arrays: dict[str, np.ndarray]) -> Artifacts:
    def fail(cause: str) -> ArtifactsInvalid:
        return ArtifactsInvalid(f"{source}: {cause}")

    try:
        meta = read_json_array(arrays["dsp_meta"], path=source, key="dsp_meta")
    except ArtifactFileError as exc:
        raise ArtifactsInvalid(str(exc)) from None
    problem = meta_problem(meta)
    if problem is not None:
        raise fail(problem)

    track_ids = arrays["track_ids"]
    if track_ids.ndim != 1 or track_ids.shape[0] == 0:
        raise fail("'track_ids' is empty or not 1-d (no tracks)")
    n_tracks = track_ids.shape[0]
    for key, value in arrays.items():
        if key not in {"dsp_meta", "genre_vocab"} and value.shape[:1] != (n_tracks,):
            raise fail(f"'{key}' has {value.shape[:1]} rows, expected {n_tracks}")
    for key in ("track_ids", "artist_keys", "item_paths", "genre_vocab", "track_artists"):
        if key in arrays and arrays[key].dtype.kind != "U":
            raise fail(f"'{key}' is not a unicode string array")
    if arrays["item_ids"].dtype.kind not in "iu":
        raise fail("'item_ids' is not an integer array")
    unique_ids, counts = np.unique(track_ids, return_counts=True)
    if unique_ids.shape[0] != n_tracks:
        raise fail(f"duplicate track id {str(unique_ids[counts > 1][0])!r}")
    if np.any(np.char.str_len(arrays["artist_keys"]) == 0):
        raise fail("empty artist key")

    n_genres = arrays["genre_vocab"].shape[0]
    for key in ("X_genre_raw", "X_genre_smoothed"):
        if arrays[key].shape != (n_tracks, n_genres):
            raise fail(f"'{key}' has shape {arrays[key].shape}, expected ({n_tracks}, {n_genres})")

    def embedding(key: str, fallback: FloatArray | None = None) -> FloatArray:
        if key not in arrays:
            assert fallback is not None
            return fallback
        value = np.ascontiguousarray(arrays[key], dtype=np.float32)
        if value.ndim != 2:
            raise fail(f"'{key}' is not 2-d")
        if fallback is not None and value.shape != fallback.shape:
            raise fail(f"'{key}' has shape {value.shape}, expected {fallback.shape}")
        if not np.all(np.isfinite(value)):
            raise fail(f"'{key}' contains NaN or infinite values")
        return value

    sonic = embedding("dsp_sonic_embedding")
    titles = arrays.get("track_titles", np.full(n_tracks, "", dtype="<U1"))
    artists = arrays.get("track_artists", arrays["artist_keys"])
    bpm = arrays.get("bpm_array")
    return Artifacts(
        path=source,
        track_ids=track_ids,
        item_ids=arrays["item_ids"].astype(np.int64, copy=False),
        item_paths=arrays["item_paths"],
        artist_keys=arrays["artist_keys"],
        track_artists=artists,
        track_titles=titles,
        genre_vocab=arrays["genre_vocab"],
        genre_raw=np.asarray(arrays["X_genre_raw"], dtype=np.float32),
        genre_smoothed=np.asarray(arrays["X_genre_smoothed"], dtype=np.float32),
        sonic=sonic,
        sonic_start=embedding("dsp_sonic_embedding_start", sonic),
        sonic_end=embedding("dsp_sonic_embedding_end", sonic),
        hybrid=embedding("dsp_hybrid_embedding"),
        bpm=None if bpm is None else np.asarray(bpm, dtype=np.float32),
        meta=meta,
    )


@dataclass(frozen=True)
class PlaylistEntry:
    """One playlist line; ``index`` is the artifact row, ``score`` the similarity to the seeds."""

    index: int
    item_id: int
    path: str
    artist: str
    title: str
    score: float
    is_seed: bool


def genre_similarity(art: Artifacts, seed_indices: Sequence[int]) -> FloatArray:
    """(N,) genre similarity of every track to the seed set (max over seeds), in [0, 1].

    Per seed: 0.6 × cosine of the smoothed genre rows + 0.4 × Jaccard of the raw genre sets.
    Tracks (or seeds) without genres score 0 against them.
    """
    seeds = np.asarray(seed_indices, dtype=np.intp)
    seed_rows = art.genre_smoothed[seeds]  # (S, G)
    dots = art.genre_smoothed @ seed_rows.T  # (N, S)
    norm_products = art.genre_norms[:, None] * art.genre_norms[seeds][None, :]
    cosine = np.divide(dots, norm_products, out=np.zeros_like(dots), where=norm_products > 0)
    present = art.genre_present
    shared = np.asarray((present @ present[seeds].T).todense(), dtype=np.float32)  # (N, S)
    union = art.genre_counts[:, None] + art.genre_counts[seeds][None, :] - shared
    jaccard = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
    combined = GENRE_COSINE_WEIGHT * cosine + GENRE_JACCARD_WEIGHT * jaccard
    return np.asarray(combined.max(axis=1), dtype=np.float32)


def default_max_per_artist(count: int) -> int:
    """Per-artist cap when none is given: a tenth of the playlist, at least 1."""
    return max(1, math.ceil(count / 10))


def generate_playlist(
    art: Artifacts,
    seed_indices: Sequence[int],
    *,
    count: int = 30,
    mode: str = "dynamic",
    max_per_artist: int | None = None,
    modes: Mapping[str, ModeSettings] = DEFAULT_MODES,
    exists: Callable[[str], bool] = os.path.exists,
) -> list[PlaylistEntry]:
    """Playlist of up to ``count`` entries (seeds first) for artifact rows ``seed_indices``.

    Seeds whose files are missing still steer the choice but are left out of the list. Fewer
    than ``count`` entries come back when the filters leave too few candidates.
    """
    if mode not in modes:
        raise PlaylistError(f"unknown mode {mode!r} (choose from {', '.join(modes)})")
    if count < 1:
        raise PlaylistError(f"count must be at least 1, got {count}")
    if max_per_artist is not None and max_per_artist < 1:
        raise PlaylistError(f"max_per_artist must be at least 1, got {max_per_artist}")
    seeds = list(dict.fromkeys(int(i) for i in seed_indices))
    if not seeds:
        raise PlaylistError("no seed tracks given")
    bad = [i for i in seeds if not 0 <= i < len(art)]
    if bad:
        raise PlaylistError(f"seed index {bad[0]} out of range (artifacts have {len(art)} tracks)")
    settings = modes[mode]
    if settings.genre_gate is not None and not np.any(art.genre_counts[seeds] > 0):
        raise PlaylistError(
            f"mode {mode!r} needs genres but no seed track has any; "
            "try mode 'discover' or 'sonic-only'"
        )

    sonic_sim = (art.sonic @ art.sonic[seeds].T).max(axis=1)  # (N,)
    embedding = art.hybrid if settings.use_genre else art.sonic
    score = (embedding @ embedding[seeds].T).max(axis=1)  # (N,)
    eligible = sonic_sim >= settings.sonic_floor
    if settings.genre_gate is not None:
        eligible &= art.genre_counts > 0
        eligible &= genre_similarity(art, seeds) >= settings.genre_gate
    eligible[seeds] = False
    candidates = np.flatnonzero(eligible)
    candidates = candidates[np.argsort(-score[candidates], kind="stable")]

    cap = max_per_artist if max_per_artist is not None else default_max_per_artist(count)
    # No order avoids neighbours of one artist if it fills more than half the list.
    cap = min(cap, math.ceil(count / 2))
    chosen_seeds = [i for i in seeds if exists(str(art.item_paths[i]))][:count]
    per_artist = Counter(str(art.artist_keys[i]) for i in chosen_seeds)
    seen_songs = {_song_key(art, i) for i in seeds}
    picked: list[int] = []
    for row in candidates.tolist():
        if len(chosen_seeds) + len(picked) >= count:
            break
        artist = str(art.artist_keys[row])
        song = _song_key(art, row)
        if per_artist[artist] >= cap or song in seen_songs:
            continue
        if not exists(str(art.item_paths[row])):
            continue
        picked.append(row)
        per_artist[artist] += 1
        seen_songs.add(song)
    _trim_to_alternate(art, picked, per_artist, len(chosen_seeds))

    ordered = chosen_seeds + _order_for_transitions(art, picked, chosen_seeds)
    seed_set = set(seeds)
    return [
        PlaylistEntry(
            index=row,
            item_id=int(art.item_ids[row]),
            path=str(art.item_paths[row]),
            artist=str(art.track_artists[row]),
            title=str(art.track_titles[row]),
            score=float(score[row]),
            is_seed=row in seed_set,
        )
        for row in ordered
    ]


def _trim_to_alternate(
    art: Artifacts, picked: list[int], per_artist: Counter[str], n_seeds: int
) -> None:
    """Drop the lowest-scored picks of an artist filling more than half the list (short pools),
    since no order could then keep that artist's tracks apart. ``picked`` is in score order."""
    while picked:
        artist, most = per_artist.most_common(1)[0]
        if most <= math.ceil((n_seeds + len(picked)) / 2):
            return
        mine = [j for j, row in enumerate(picked) if str(art.artist_keys[row]) == artist]
        if not mine:  # only seeds of that artist: nothing to drop
            return
        del picked[mine[-1]]
        per_artist[artist] -= 1


def _song_key(art: Artifacts, row: int) -> tuple[str, str]:
    # Without titles every track is its own song (track ids are unique).
    title = str(art.track_titles[row]).casefold().strip()
    return str(art.artist_keys[row]), title or f"\0{art.track_ids[row]}"


def _order_for_transitions(art: Artifacts, rows: list[int], lead: list[int]) -> list[int]:
    """Greedy chain of ``rows`` after ``lead``: best end→start transition, artist-safe first."""
    if not rows:
        return []
    artists = [str(art.artist_keys[row]) for row in lead + rows]
    # transition[i, j]: end of track i (lead + rows) against the start of rows[j]
    transition = art.sonic_end[lead + rows] @ art.sonic_start[rows].T
    remaining = list(range(len(rows)))
    previous = len(lead) - 1  # -1: no lead track placed
    ordered: list[int] = []
    while remaining:
        left = Counter(artists[len(lead) + j] for j in remaining)
        after = len(remaining) - 1
        previous_artist = artists[previous] if previous >= 0 else None

        def rank(
            j: int,
            left: Counter[str] = left,
            after: int = after,
            prev: int = previous,
            prev_artist: str | None = previous_artist,
        ) -> tuple[bool, bool, float]:
            artist = artists[len(lead) + j]
            # Once this track is placed, the rest can still alternate iff its artist fills at
            # most half of it and every other artist at most half rounded up.
            feasible = left[artist] - 1 <= after // 2 and all(
                n <= (after + 1) // 2 for a, n in left.items() if a != artist
            )
            similarity = float(transition[prev, j]) if prev >= 0 else 0.0
            return artist != prev_artist, feasible, similarity

        best = max(remaining, key=rank)
        ordered.append(rows[best])
        remaining.remove(best)
        previous = len(lead) + best
    return ordered


def write_m3u(
    entries: Iterable[PlaylistEntry],
    out_path: Path,
    *,
    relative: bool = False,
    durations: Mapping[int, float] | None = None,
) -> None:
    """Write an extended M3U (UTF-8) atomically: ``#EXTM3U``, then per entry
    ``#EXTINF:<seconds>,<Artist> - <Title>`` and the path.

    ``durations`` maps item ids to seconds (-1 when unknown). ``relative`` writes paths relative
    to the playlist's directory.
    """
    base = os.path.abspath(Path(out_path).parent)
    lines = ["#EXTM3U"]
    for entry in entries:
        seconds = -1 if durations is None else round(durations.get(entry.item_id, -1))
        label = f"{entry.artist} - {entry.title}" if entry.title else entry.artist
        lines.append(f"#EXTINF:{seconds},{' '.join(label.split())}")
        path = entry.path
        if relative:
            # ValueError: another drive on Windows, keep the path absolute
            with contextlib.suppress(ValueError):
                path = os.path.relpath(path, base)
        lines.append(path)
    # surrogateescape restores path bytes that os.fsdecode could not decode.
    write_text_atomic(out_path, "\n".join(lines) + "\n", errors="surrogateescape")

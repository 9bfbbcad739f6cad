"""Seeded playlists from DS artifacts: genre gate, sonic floor, artist diversity, smooth order.

Method (details and measured figures in ``docs/playlist-method.md``):

1. Similarity to the seed set is the maximum over the seeds, so a candidate close to any seed
   counts. Ranking score: cosine of the hybrid embedding (sonic-only mode: of the sonic
   embedding).
2. Genre gate: ``0.6 × cosine(smoothed genre rows) + 0.4 × Jaccard(raw genre sets)`` must reach
   the mode's threshold; tracks without genres fail any gate.
3. Sonic floor: cosine of the normalised sonic embedding must reach the mode's floor.
4. Selection walks candidates by descending score, interleaved over the seeds, skipping
   missing files, repeats of a seen artist + title, and artists/albums at their cap. When the
   list is not full, the per-album cap, the sonic floor, the genre gate and the per-artist cap
   are relaxed in turn (not with ``strict``); each entry records the step that chose it.
5. At most ``max_seeds`` seeds lead; the rest is chained greedily by transition similarity (end
   segment embedding of the previous track against the start segment embedding of the next),
   never placing one artist twice in a row when any order allows that.
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
    "STEP_NAMES",
    "Artifacts",
    "ArtifactsError",
    "ArtifactsInvalid",
    "ArtifactsMissing",
    "ModeSettings",
    "Playlist",
    "PlaylistEntry",
    "PlaylistError",
    "Rejection",
    "default_caps",
    "effective_count",
    "generate_playlist",
    "genre_similarity",
    "load_artifacts",
    "nearest_seed",
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


def effective_count(groups: npt.NDArray[Any]) -> float:
    """``exp`` of the entropy of the groups' track shares: the number of equally big groups
    with the same spread. 1 for one artist; ~2 for a library that is half one artist; the real
    count when all are equally big."""
    _, sizes = np.unique(groups, return_counts=True)
    if sizes.size == 0:
        return 1.0
    shares = sizes / sizes.sum()
    return float(np.exp(-np.sum(shares * np.log(shares))))


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
    album_ids: StrArray  # (N,) album keys; the track id where the artifacts have none

    @cached_property
    def n_artists(self) -> float:
        """Effective number of artists (see :func:`effective_count`)."""
        return effective_count(self.artist_keys)

    @cached_property
    def several_artists(self) -> bool:
        return bool(np.any(self.artist_keys != self.artist_keys[0]))

    @cached_property
    def n_albums(self) -> float:
        """Effective number of albums (see :func:`effective_count`)."""
        return effective_count(self.album_ids)

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
    "album_ids",
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
    for key in (
        "track_ids",
        "artist_keys",
        "item_paths",
        "genre_vocab",
        "track_artists",
        "album_ids",
    ):
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
        album_ids=arrays.get("album_ids", track_ids),
    )


STEP_NAMES: Mapping[str, str] = {
    "seed": "seed",
    "match": "passed every filter",
    "album_cap": "per-album cap relaxed",
    "floor": "sonic floor relaxed",
    "gate": "genre gate relaxed",
    "artist_cap": "per-artist cap relaxed",
}
EXPLAIN_PER_SLOT = 3


@dataclass(frozen=True)
class Rejection:
    """A candidate ranked above a pick but passed over, and why (``--explain``)."""

    index: int
    artist: str
    title: str
    score: float
    reason: str


@dataclass(frozen=True)
class PlaylistEntry:
    """One playlist line; ``index`` is the artifact row, ``score`` the similarity to the seeds.

    ``step`` says what chose it: ``seed``, ``match`` (every filter passed) or the relaxation
    step (``floor``, ``gate``, ``caps``; see :data:`STEP_NAMES`). ``rejected``: with
    ``explain``, the nearest candidates passed over just before this pick.
    """

    index: int
    item_id: int
    path: str
    artist: str
    title: str
    score: float
    is_seed: bool
    step: str = "seed"
    rejected: tuple[Rejection, ...] = ()


@dataclass(frozen=True)
class Playlist:
    """The entries in play order, and what was asked."""

    entries: list[PlaylistEntry]
    mode: str
    requested: int
    strict: bool = False
    steering_seeds: int = 0
    # With explain: the nearest candidates passed over after the last pick (why it is short).
    passed_over: tuple[Rejection, ...] = ()

    def __len__(self) -> int:
        return len(self.entries)

    def step_counts(self) -> dict[str, int]:
        """Entries per step, in the order of :data:`STEP_NAMES`, zero counts left out."""
        counts = Counter(entry.step for entry in self.entries)
        return {step: counts[step] for step in STEP_NAMES if counts[step]}


def genre_similarity(art: Artifacts, seed_indices: Sequence[int]) -> FloatArray:
    """(N,) genre similarity of every track to the seed set (max over seeds), in [0, 1].

    Per seed: 0.6 × cosine of the smoothed genre rows + 0.4 × Jaccard of the raw genre sets.
    Tracks (or seeds) without genres score 0 against them.
    """
    best = np.zeros(len(art), dtype=np.float32)
    present = art.genre_present
    for chunk in _chunks(seed_indices):
        seed_rows = art.genre_smoothed[chunk]  # (S, G)
        dots = art.genre_smoothed @ seed_rows.T  # (N, S)
        norm_products = art.genre_norms[:, None] * art.genre_norms[chunk][None, :]
        cosine = np.divide(dots, norm_products, out=np.zeros_like(dots), where=norm_products > 0)
        shared = np.asarray((present @ present[chunk].T).todense(), dtype=np.float32)  # (N, S)
        union = art.genre_counts[:, None] + art.genre_counts[chunk][None, :] - shared
        jaccard = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        combined = GENRE_COSINE_WEIGHT * cosine + GENRE_JACCARD_WEIGHT * jaccard
        np.maximum(best, combined.max(axis=1), out=best)
    return best


def _chunks(rows: Sequence[int], size: int = 256) -> Iterable[npt.NDArray[np.intp]]:
    # (N, S) similarity blocks: an artist with thousands of seed tracks must not need N × S memory.
    seeds = np.asarray(rows, dtype=np.intp)
    for start in range(0, seeds.size, size):
        yield seeds[start : start + size]


def nearest_seed(
    embedding: FloatArray, seed_indices: Sequence[int]
) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """(N,) best cosine to any seed and (N,) position (in ``seed_indices``) of that seed."""
    best = np.full(embedding.shape[0], -np.inf, dtype=np.float32)
    owner = np.zeros(embedding.shape[0], dtype=np.intp)
    offset = 0
    for chunk in _chunks(seed_indices):
        sims = embedding @ embedding[chunk].T
        top = sims.argmax(axis=1)
        value = sims[np.arange(sims.shape[0]), top]
        better = value > best
        best[better] = value[better]
        owner[better] = top[better] + offset
        offset += chunk.size
    return best, owner


def default_caps(count: int, n_artists: float, n_albums: float) -> tuple[int, int]:
    """Default (per-artist, per-album) caps: ``ceil(count / min(10, artists))`` and
    ``ceil(count / min(5, albums))``, with the effective numbers of artists and albums of the
    library (:func:`effective_count`). A one-artist library is not cut short, one dominated by a
    few artists lets them fill their share, and a large varied one keeps at most a tenth of the
    list per artist and a fifth per album."""
    artist_cap = math.ceil(count / max(1.0, min(10.0, n_artists)) - 1e-9)
    album_cap = math.ceil(count / max(1.0, min(5.0, n_albums)) - 1e-9)
    return artist_cap, album_cap


def generate_playlist(
    art: Artifacts,
    seed_indices: Sequence[int],
    *,
    count: int = 30,
    mode: str = "dynamic",
    max_per_artist: int | None = None,
    max_per_album: int | None = None,
    max_seeds: int = 3,
    strict: bool = False,
    exclude: Iterable[int] = (),
    avoid: str | None = None,
    explain: bool = False,
    modes: Mapping[str, ModeSettings] = DEFAULT_MODES,
    exists: Callable[[str], bool] = os.path.exists,
) -> Playlist:
    """Playlist of up to ``count`` entries for artifact rows ``seed_indices``.

    At most ``max_seeds`` seeds lead the list (distinct artists first); every seed steers the
    choice. Candidates are taken by score, interleaved over the seeds they are closest to.
    When too few pass the mode's filters, the per-album cap, the sonic floor, the genre gate and
    the per-artist cap are relaxed in turn (unless ``strict``); each entry says which step
    chose it. ``exclude``: rows never picked. ``avoid``: ``"artist"`` or ``"album"`` keeps the
    seeds' artists or albums out of the picks (artist/album seeds). ``explain`` records the
    candidates passed over before each pick.
    """
    if mode not in modes:
        raise PlaylistError(f"unknown mode {mode!r} (choose from {', '.join(modes)})")
    for name, value in (
        ("count", count),
        ("max_per_artist", max_per_artist),
        ("max_per_album", max_per_album),
    ):
        if value is not None and value < 1:
            raise PlaylistError(f"{name} must be at least 1, got {value}")
    if max_seeds < 0:
        raise PlaylistError(f"max_seeds must not be negative, got {max_seeds}")
    if avoid not in (None, "artist", "album"):
        raise PlaylistError(f"avoid must be 'artist' or 'album', got {avoid!r}")
    seeds = _check_seeds(art, seed_indices)
    settings = modes[mode]
    # Without --strict such seeds still get a list: the gate is relaxed like any other filter.
    if strict and settings.genre_gate is not None and not np.any(art.genre_counts[seeds] > 0):
        raise PlaylistError(
            f"mode {mode!r} needs genres but no seed track has any; "
            "try mode 'discover' or 'sonic-only'"
        )

    embedding = art.hybrid if settings.use_genre else art.sonic
    score, owner = nearest_seed(embedding, seeds)
    sonic_sim = score if not settings.use_genre else nearest_seed(art.sonic, seeds)[0]
    floor_ok = sonic_sim >= settings.sonic_floor
    gate_ok = np.ones(len(art), dtype=bool)
    genre_sim: FloatArray | None = None
    if settings.genre_gate is not None:
        genre_sim = genre_similarity(art, seeds)
        gate_ok = (art.genre_counts > 0) & (genre_sim >= settings.genre_gate)

    blocked = np.zeros(len(art), dtype=bool)
    blocked[seeds] = True
    blocked[np.asarray(list(exclude), dtype=np.intp)] = True
    if avoid is not None:
        groups = art.artist_keys if avoid == "artist" else art.album_ids
        blocked |= np.isin(groups, np.unique(groups[seeds]))
    ranked = _interleaved_ranking(np.flatnonzero(~blocked), score, owner)

    listed = _listed_seeds(art, seeds, min(max_seeds, count), exists)
    artist_cap, album_cap = default_caps(count, art.n_artists, art.n_albums)
    artist_cap = max_per_artist or artist_cap
    album_cap = max_per_album or album_cap
    if art.several_artists:  # no order avoids neighbours of one artist filling over half the list
        artist_cap = min(artist_cap, math.ceil(count / 2))

    # (name, candidate mask, per-artist cap applies, per-album cap applies)
    everyone = np.ones_like(gate_ok)
    steps = [("match", floor_ok & gate_ok, True, True)]
    if not strict:
        # The album cap is the softest rule: it gives way before the floor and the gate.
        steps += [
            ("album_cap", floor_ok & gate_ok, True, False),
            ("floor", gate_ok, True, False),
            ("gate", everyone, True, False),
            ("artist_cap", everyone, False, False),
        ]
    selector = _Selector(
        art,
        count=count,
        lead=listed,
        seeds=seeds,
        score=score,
        artist_cap=artist_cap,
        album_cap=album_cap,
        explain=explain,
        exists=exists,
    )

    def reason(row: int) -> str:
        if genre_sim is not None and not gate_ok[row]:
            if art.genre_counts[row] == 0:
                return "no genres (genre gate)"
            return f"genre similarity {genre_sim[row]:.2f} < gate {settings.genre_gate:.2f}"
        return f"sonic similarity {sonic_sim[row]:.2f} < floor {settings.sonic_floor:.2f}"

    previous: tuple[npt.NDArray[np.bool_], bool, bool] | None = None
    for name, mask, artist_capped, album_capped in steps:
        # A step that relaxes nothing (no gate in this mode, nothing below the floor) is skipped.
        if (
            previous is not None
            and (artist_capped, album_capped) == previous[1:]
            and np.array_equal(mask, previous[0])
        ):
            continue
        previous = (mask, artist_capped, album_capped)
        selector.walk(name, ranked, mask, (artist_capped, album_capped), reason)
        if selector.full:
            break
    if strict:
        selector.trim_to_alternate()

    ordered = listed + _order_for_transitions(art, selector.picked, listed)
    return Playlist(
        entries=[
            make_entry(
                art,
                row,
                float(score[row]),
                step=selector.step_of.get(row, "seed"),
                rejected=tuple(selector.rejected.get(row, ())),
            )
            for row in ordered
        ],
        mode=mode,
        requested=count,
        strict=strict,
        steering_seeds=len(seeds),
        passed_over=tuple(selector.pending),
    )


def _check_seeds(art: Artifacts, seed_indices: Sequence[int]) -> list[int]:
    seeds = list(dict.fromkeys(int(i) for i in seed_indices))
    if not seeds:
        raise PlaylistError("no seed tracks given")
    bad = [i for i in seeds if not 0 <= i < len(art)]
    if bad:
        raise PlaylistError(f"seed index {bad[0]} out of range (artifacts have {len(art)} tracks)")
    return seeds


def make_entry(
    art: Artifacts, row: int, score: float, *, step: str, rejected: tuple[Rejection, ...] = ()
) -> PlaylistEntry:
    return PlaylistEntry(
        index=row,
        item_id=int(art.item_ids[row]),
        path=str(art.item_paths[row]),
        artist=str(art.track_artists[row]),
        title=str(art.track_titles[row]),
        score=score,
        is_seed=step == "seed",
        step=step,
        rejected=rejected,
    )


def _interleaved_ranking(
    rows: npt.NDArray[np.intp], score: FloatArray, owner: npt.NDArray[np.intp]
) -> npt.NDArray[np.intp]:
    """``rows`` by descending score, taken in turn from the groups of their nearest seed, so
    several seeds each get their neighbours into the list (one seed in a dense region would
    otherwise take every slot)."""
    rows = rows[np.argsort(-score[rows], kind="stable")]
    groups = owner[rows]
    if rows.size == 0 or np.all(groups == groups[0]):
        return rows
    by_group = np.argsort(groups, kind="stable")
    sorted_groups = groups[by_group]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, rows.size]))
    turn = np.empty(rows.size, dtype=np.intp)
    turn[by_group] = np.arange(rows.size) - first
    return rows[np.lexsort((-score[rows], turn))]


def _listed_seeds(
    art: Artifacts, seeds: list[int], limit: int, exists: Callable[[str], bool]
) -> list[int]:
    """Up to ``limit`` seeds to lead the list: files present, one per song (the same title by the
    same artist on two albums leads once), distinct artists first."""
    songs: set[tuple[str, str]] = set()
    present = []
    for row in seeds:
        song = song_key(art, row)
        if song not in songs and exists(str(art.item_paths[row])):
            songs.add(song)
            present.append(row)
    listed: list[int] = []
    artists: set[str] = set()
    for row in present:
        if len(listed) < limit and str(art.artist_keys[row]) not in artists:
            listed.append(row)
            artists.add(str(art.artist_keys[row]))
    for row in present:
        if len(listed) < limit and row not in listed:
            listed.append(row)
    # Keep the order the user gave.
    return [row for row in present if row in listed]


class _Selector:
    """The walk over ranked candidates shared by every relaxation step."""

    def __init__(
        self,
        art: Artifacts,
        *,
        count: int,
        lead: list[int],
        seeds: list[int],
        score: FloatArray,
        artist_cap: int,
        album_cap: int,
        explain: bool,
        exists: Callable[[str], bool],
    ) -> None:
        self.art = art
        self.count = count
        self.lead = lead
        self.score = score
        self.artist_cap = artist_cap
        self.album_cap = album_cap
        self.explain = explain
        self.exists = exists
        self.picked: list[int] = []
        self.step_of: dict[int, str] = {}
        self.rejected: dict[int, list[Rejection]] = {}
        self.per_artist = Counter(str(art.artist_keys[i]) for i in lead)
        self.per_album = Counter(str(art.album_ids[i]) for i in lead)
        self.songs = {song_key(art, i): i for i in seeds}
        self._explained: set[int] = set()
        self.gone: set[int] = set()
        # Passed over after the last pick so far; at the end: why the list is not longer.
        self.pending: list[Rejection] = []

    @property
    def full(self) -> bool:
        return len(self.lead) + len(self.picked) >= self.count

    def walk(
        self,
        step: str,
        ranked: npt.NDArray[np.intp],
        mask: npt.NDArray[np.bool_],
        capped: tuple[bool, bool],
        filter_reason: Callable[[int], str],
    ) -> None:
        art = self.art
        # Without --explain only the rows passing the mask are visited (vectorised filter).
        rows = ranked if self.explain else ranked[mask[ranked]]
        for row in rows.tolist():
            if self.full:
                return
            if row in self.step_of or row in self.gone:
                continue
            artist, album = str(art.artist_keys[row]), str(art.album_ids[row])
            song = song_key(art, row)
            if not mask[row]:
                cause = filter_reason(row)
            elif song in self.songs:
                other = self.songs[song]
                cause = f"same song as {art.track_artists[other]} – {art.track_titles[other]}"
            elif capped[0] and self.per_artist[artist] >= self.artist_cap:
                cause = f"artist cap ({self.artist_cap} per artist)"
            elif capped[1] and self.per_album[album] >= self.album_cap:
                cause = f"album cap ({self.album_cap} per album)"
            elif not self.exists(str(art.item_paths[row])):
                cause = "file missing"
                self.gone.add(row)  # no later step can list it: never check it again
            else:
                self.picked.append(row)
                self.step_of[row] = step
                self.per_artist[artist] += 1
                self.per_album[album] += 1
                self.songs[song] = row
                if self.pending:
                    self.rejected[row] = self.pending
                    self.pending = []
                continue
            if self.explain and row not in self._explained:
                self._explained.add(row)
                if len(self.pending) < EXPLAIN_PER_SLOT:
                    self.pending.append(
                        Rejection(
                            index=row,
                            artist=str(art.track_artists[row]),
                            title=str(art.track_titles[row]),
                            score=float(self.score[row]),
                            reason=cause,
                        )
                    )

    def trim_to_alternate(self) -> None:
        """Drop the lowest-scored picks of an artist filling more than half the list (strict
        lists from short pools), since no order could then keep that artist's tracks apart."""
        art, picked = self.art, self.picked
        while picked and art.several_artists:  # one artist: no order could alternate anyway
            artist, most = self.per_artist.most_common(1)[0]
            if most <= math.ceil((len(self.lead) + len(picked)) / 2):
                return
            mine = [j for j, row in enumerate(picked) if str(art.artist_keys[row]) == artist]
            if not mine:  # only seeds of that artist: nothing to drop
                return
            del picked[mine[-1]]
            self.per_artist[artist] -= 1


def song_key(art: Artifacts, row: int) -> tuple[str, str]:
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

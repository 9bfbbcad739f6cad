"""Build ``data_matrices_step1.npz`` (the DS artifacts) from plain per-track records.

See ``docs/artifacts.md`` for the file contract and the math. Tracks without (finite) sonic
features are left out and counted; tracks without genres stay in with a zero genre row.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .artifact_format import DATA_FILE, FORMAT_NAME, FORMAT_VERSION, read_meta
from .embedding import (
    N_SONIC_FEATURES,
    TOWER_NAMES,
    ArtifactConfig,
    fit_genre_embedding,
    fit_sonic_embedding,
    hybrid_embedding,
    squared_distance_shares,
)
from .genre_sim import GenreSimilarity, ordered_vocabulary
from .npzio import (
    RowBlocks,
    json_array,
    str_array,
    write_npz_atomic,
)
from .sonic.layout import FEATURE_NAMES

__all__ = [
    "ArtifactBuildResult",
    "ArtifactConfig",
    "GenreSmoothing",
    "TrackRecord",
    "align_similarity",
    "artist_key",
    "build_artifacts",
    "write_npz_atomic",
]

# A featured/guest artist starts after whitespace or an opening bracket.
_FEATURING = re.compile(
    r"(?:\s+|\s*[(\[]\s*)(?:feat\.|ft\.|vs\.|(?:feat|ft|featuring|with|vs)(?=\s|$))"
)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class TrackRecord:
    """One track as the artifact builder needs it; sonic vectors are raw (137,) beat3tower."""

    track_id: str
    item_id: int
    path: str
    artist: str
    title: str
    album_id: str
    genre_weights: Mapping[str, float]
    has_discogs: bool
    bpm: float
    full: np.ndarray | None
    start: np.ndarray | None = None
    mid: np.ndarray | None = None
    end: np.ndarray | None = None


@dataclass(frozen=True)
class ArtifactBuildResult:
    """Where the artifact went and what went into it."""

    path: Path
    n_tracks: int
    counts: dict[str, int]
    meta: dict[str, object]


def artist_key(artist: str, track_id: str) -> str:
    """Artist identity for diversity rules: NFC, lower-case, cut at feat./ft./with/vs.

    Non-ASCII names keep their identity ("坂本龍一", "björk"); empty → ``unknown:<track_id>``.
    """
    text = unicodedata.normalize("NFC", artist).lower()
    text = _FEATURING.split(text, maxsplit=1)[0]
    text = _SPACES.sub(" ", text).strip(" ,;&-([")
    return text or f"unknown:{track_id}"


def align_similarity(vocab: Sequence[str], genre_sim: GenreSimilarity) -> tuple[np.ndarray, int]:
    """(G, G) float32 S over ``vocab``: values from ``genre_sim`` where both genres are in it,
    identity elsewhere. Also returns how many of ``vocab`` were found in ``genre_sim``."""
    index = genre_sim.index()
    ours = np.array([i for i, name in enumerate(vocab) if name in index], dtype=np.int64)
    theirs = np.array([index[vocab[i]] for i in ours], dtype=np.int64)
    aligned = np.eye(len(vocab), dtype=np.float32)
    aligned[np.ix_(ours, ours)] = genre_sim.S[np.ix_(theirs, theirs)]
    return aligned, len(ours)


def _sonic_vector(record: TrackRecord, segment: str) -> np.ndarray | None:
    value = getattr(record, segment)
    if value is None:
        return None
    vector = np.asarray(value, dtype=np.float32)
    if vector.shape != (N_SONIC_FEATURES,):
        raise ValueError(
            f"{os.fsdecode(record.path)}: {segment} sonic vector has shape {vector.shape}, "
            f"expected ({N_SONIC_FEATURES},)"
        )
    return vector if np.isfinite(vector).all() else None


def _check_unique_ids(tracks: Sequence[TrackRecord]) -> None:
    seen: dict[str, TrackRecord] = {}
    for record in tracks:
        other = seen.setdefault(record.track_id, record)
        if other is not record:
            raise ValueError(
                f"{os.fsdecode(record.path)}: duplicate track id {record.track_id!r} "
                f"(also {os.fsdecode(other.path)})"
            )


def _genre_rows(tracks: Sequence[TrackRecord], min_count: int) -> tuple[sp.csr_array, list[str]]:
    """(N, G) float32 CSR of genre weights over the artifact vocabulary (count desc, name)."""
    column: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    for row, record in enumerate(tracks):
        for name, weight in record.genre_weights.items():
            if weight > 0:
                rows.append(row)
                cols.append(column.setdefault(name, len(column)))
                values.append(weight)
    names = list(column)
    full = sp.csr_array(
        (np.asarray(values, np.float32), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
        shape=(len(tracks), len(names)),
    )
    counts = np.diff(full.tocsc().indptr)
    order = ordered_vocabulary(names, counts, min_count=min_count, max_genres=None)
    return sp.csr_array(full[:, order]), [names[i] for i in order]


@dataclass(frozen=True)
class GenreSmoothing:
    """``X_genre_raw`` and ``X_genre_smoothed`` computed block by block from sparse raw rows.

    Smoothed rows are ``r S / ||r S||`` (zero rows stay zero). L2 because squared distances of
    such rows are ``2 − 2·cosine``, the measure of the candidate gate, and a track with many
    genres does not outweigh one with a single genre. Dense (N, G) float32 matrices are 400 MB
    each at 100k × 1,000, so neither is ever held whole.
    """

    raw_rows: sp.csr_array  # (N, G) float32
    similarity: np.ndarray  # (G, G) float32, aligned
    block_rows: int = 8192

    def _spans(self) -> Iterator[tuple[int, int]]:
        n_rows = self.raw_rows.shape[0]
        for start in range(0, n_rows, self.block_rows):
            yield start, min(start + self.block_rows, n_rows)

    def _smoothed(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.raw_rows[start:stop] @ self.similarity, dtype=np.float32)

    def row_norms(self) -> np.ndarray:
        """(N,) L2 norms of the unnormalised smoothed rows ``r S``."""
        parts = [np.linalg.norm(self._smoothed(a, b), axis=1) for a, b in self._spans()]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def raw_blocks(self) -> RowBlocks:
        """``X_genre_raw`` (N, G) float32 as row blocks."""
        return RowBlocks(
            self.raw_rows.shape,
            np.dtype(np.float32),
            lambda: (self.raw_rows[a:b].toarray() for a, b in self._spans()),
        )

    def smoothed_blocks(self, row_norms: np.ndarray) -> RowBlocks:
        """``X_genre_smoothed`` (N, G) float32, rows L2-normalised, as row blocks."""

        def blocks() -> Iterator[np.ndarray]:
            for a, b in self._spans():
                block = self._smoothed(a, b)
                block /= np.maximum(row_norms[a:b], 1e-12)[:, None]
                yield block

        return RowBlocks(self.raw_rows.shape, np.dtype(np.float32), blocks)


def _existing_is_full_build(path: Path) -> bool:
    meta = read_meta(path)
    return meta is not None and meta.get("limit") is None


def build_artifacts(
    tracks: Sequence[TrackRecord],
    genre_sim: GenreSimilarity,
    out_dir: Path,
    *,
    config: ArtifactConfig | None = None,
    fingerprint: str,
    meta: Mapping[str, object],
    allow_replace_full: bool = False,
) -> ArtifactBuildResult:
    """Compute all matrices and write ``out_dir/data_matrices_step1.npz`` atomically.

    ``meta`` carries ``library``, ``sidecar`` and ``limit`` (int or None) into ``dsp_meta``. A
    run with a ``limit`` refuses to replace an existing full (``limit`` null) artifact unless
    ``allow_replace_full``. Raises ValueError on duplicate ids, wrong vector shapes or fewer
    than 2 tracks with sonic features.
    """
    config = config or ArtifactConfig()
    target = Path(out_dir) / DATA_FILE
    limit = meta.get("limit")
    if limit is not None and not allow_replace_full and _existing_is_full_build(target):
        raise ValueError(
            f"{target}: refusing to replace a full artifact with a limit={limit} run "
            "(write it to another directory)"
        )
    _check_unique_ids(tracks)

    kept: list[TrackRecord] = []
    full_rows: list[np.ndarray] = []
    n_nonfinite = 0
    for record in tracks:
        vector = _sonic_vector(record, "full")
        if vector is None:
            n_nonfinite += record.full is not None
            continue
        kept.append(record)
        full_rows.append(vector)
    if len(kept) < 2:
        raise ValueError(
            f"{target}: need at least 2 tracks with sonic features, got {len(kept)} "
            f"of {len(tracks)}"
        )
    x_sonic = np.stack(full_rows)
    del full_rows
    segments: dict[str, np.ndarray] = {}
    n_segment_fallback = 0
    for segment in ("start", "mid", "end"):
        matrix = x_sonic.copy()
        for row, record in enumerate(kept):
            vector = _sonic_vector(record, segment)
            if vector is None:
                n_segment_fallback += 1
            else:
                matrix[row] = vector
        segments[segment] = matrix

    raw_rows, vocab = _genre_rows(kept, config.genre_min_count)
    similarity, n_in_sim = align_similarity(vocab, genre_sim)
    smoothing = GenreSmoothing(raw_rows, similarity)
    row_norms = smoothing.row_norms()
    has_genres = raw_rows.indptr[1:] > raw_rows.indptr[:-1]

    sonic_fit = fit_sonic_embedding(x_sonic, config)
    sonic = sonic_fit.transform(x_sonic)
    tower_edges = np.cumsum([c.shape[1] for c in sonic_fit.tower_components])[:-1]
    genre_fit, genre = fit_genre_embedding(
        raw_rows, similarity, config.genre_components, row_norms=row_norms
    )
    hybrid, hybrid_shares = hybrid_embedding(sonic, genre, config.hybrid_weights)

    n_tracks = len(kept)
    track_ids = [record.track_id for record in kept]
    counts = {
        "n_input": len(tracks),
        "n_tracks": n_tracks,
        "n_without_sonic": len(tracks) - n_tracks,
        "n_sonic_nonfinite": n_nonfinite,
        "n_segment_fallback": n_segment_fallback,
        "n_without_genres": int(n_tracks - has_genres.sum()),
        "n_with_discogs": sum(record.has_discogs for record in kept),
        "n_genres": len(vocab),
        "n_genres_in_similarity": n_in_sim,
    }
    dsp_meta: dict[str, object] = {
        "library": None,
        "sidecar": None,
        "limit": None,
        **dict(meta),
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": fingerprint,
        "n_tracks": n_tracks,
        "counts": counts,
        "embedding": {
            **config.to_meta(),
            "sonic_dims": sonic.shape[1],
            "genre_dims": genre.shape[1],
            "realised_tower_shares": dict(
                zip(
                    TOWER_NAMES,
                    squared_distance_shares(np.split(sonic, tower_edges, axis=1)),
                    strict=True,
                )
            ),
            "realised_hybrid_shares": {"sonic": hybrid_shares[0], "genre": hybrid_shares[1]},
            "genre_explained_variance": genre_fit.explained_variance_ratio,
        },
    }
    path = write_npz_atomic(
        target,
        track_ids=str_array(track_ids),
        artist_keys=str_array(artist_key(r.artist, r.track_id) for r in kept),
        X_sonic=x_sonic,
        X_sonic_start=segments["start"],
        X_sonic_mid=segments["mid"],
        X_sonic_end=segments["end"],
        X_genre_raw=smoothing.raw_blocks(),
        X_genre_smoothed=smoothing.smoothed_blocks(row_norms),
        genre_vocab=str_array(vocab),
        track_artists=str_array(r.artist for r in kept),
        track_titles=str_array(r.title for r in kept),
        bpm_array=np.array([r.bpm for r in kept], dtype=np.float32),
        sonic_feature_names=str_array(FEATURE_NAMES),
        item_ids=np.array([r.item_id for r in kept], dtype=np.int64),
        item_paths=str_array(os.fsdecode(r.path) for r in kept),
        album_ids=str_array(r.album_id for r in kept),
        has_discogs=np.array([r.has_discogs for r in kept], dtype=bool),
        dsp_sonic_embedding=sonic,
        dsp_sonic_embedding_start=sonic_fit.transform(segments["start"]),
        dsp_sonic_embedding_end=sonic_fit.transform(segments["end"]),
        dsp_genre_embedding=genre,
        dsp_hybrid_embedding=hybrid,
        dsp_meta=json_array(dsp_meta),
    )
    return ArtifactBuildResult(path=path, n_tracks=n_tracks, counts=counts, meta=dsp_meta)

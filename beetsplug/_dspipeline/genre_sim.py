"""Genre co-occurrence and Jaccard similarity over tracks (``genre_similarity_matrix.npz``).

With B the (N, G) binary track × genre matrix, ``cooc = Bᵀ B`` (a sparse product) and
``S[i, j] = cooc[i, j] / (n_i + n_j − cooc[i, j])`` with ``n = diag(cooc)``, so ``S`` has a unit
diagonal and is symmetric.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .npzio import ArtifactFileError, json_array, load_npz, read_json_array, write_npz_atomic

__all__ = [
    "GenreSimilarity",
    "build_genre_similarity",
    "genre_incidence",
    "load_genre_similarity",
    "ordered_vocabulary",
]


@dataclass(frozen=True)
class GenreSimilarity:
    """Vocabulary (G,) str, ``cooc`` (G, G) float32 track counts, ``S`` (G, G) float32 Jaccard."""

    vocab: np.ndarray
    cooc: np.ndarray
    S: np.ndarray  # the name the file format uses
    stats: dict[str, Any] = field(default_factory=dict)

    def index(self) -> dict[str, int]:
        """Genre name → row/column."""
        return {str(name): i for i, name in enumerate(self.vocab.tolist())}

    def save(self, path: Path | str) -> Path:
        """Write the npz atomically (no pickle); returns the path."""
        return write_npz_atomic(
            path, genre_vocab=self.vocab, cooc=self.cooc, S=self.S, stats=json_array(self.stats)
        )


def genre_incidence(
    track_genre_sets: Sequence[Iterable[str]],
) -> tuple[sp.csr_array, list[str]]:
    """Binary (N, V) CSR track × genre matrix (int32) and the genre names of its columns.

    Columns are in order of first appearance; a genre repeated within a track counts once.
    """
    column: dict[str, int] = {}
    indptr = np.zeros(len(track_genre_sets) + 1, dtype=np.int64)
    indices: list[int] = []
    for row, genres in enumerate(track_genre_sets):
        indices.extend({column.setdefault(name, len(column)) for name in genres})
        indptr[row + 1] = len(indices)
    data = np.ones(len(indices), dtype=np.int32)
    matrix = sp.csr_array(
        (data, np.asarray(indices, dtype=np.int64), indptr),
        shape=(len(track_genre_sets), len(column)),
    )
    return matrix, list(column)


def ordered_vocabulary(
    names: Sequence[str], counts: np.ndarray, *, min_count: int, max_genres: int | None
) -> np.ndarray:
    """Indices into ``names`` with ``counts >= min_count``, by count descending then name,
    at most ``max_genres`` of them."""
    keep = np.flatnonzero(counts >= min_count)
    name_array = np.asarray(names, dtype=np.str_) if len(names) else np.zeros(0, dtype="<U1")
    # lexsort: last key is primary.
    order = keep[np.lexsort((name_array[keep], -counts[keep]))]
    return order if max_genres is None else order[:max_genres]


def build_genre_similarity(
    track_genre_sets: Sequence[Iterable[str]],
    *,
    min_count: int = 2,
    max_genres: int | None = None,
) -> GenreSimilarity:
    """Co-occurrence and Jaccard similarity of genres over tracks.

    ``track_genre_sets``: per track, its normalised genres (track ∪ album ∪ artist). The
    vocabulary keeps genres on at least ``min_count`` tracks, sorted by track count descending
    then name, capped at ``max_genres``.
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_genres is not None and max_genres < 0:
        raise ValueError(f"max_genres must be >= 0 or None, got {max_genres}")
    incidence, names = genre_incidence(track_genre_sets)
    counts = np.asarray(incidence.sum(axis=0)).ravel()
    order = ordered_vocabulary(names, counts, min_count=min_count, max_genres=max_genres)
    kept = incidence[:, order]
    cooc = (kept.T @ kept).toarray().astype(np.float32)
    track_counts = np.diag(cooc).astype(np.float64)
    union = track_counts[:, None] + track_counts[None, :] - cooc
    # Every kept genre has count >= 1, so union >= 1 everywhere.
    similarity = (cooc / union).astype(np.float32)
    np.fill_diagonal(similarity, 1.0)
    n_kept = len(order)
    off_diagonal = int(np.count_nonzero(cooc)) - n_kept
    stats = {
        "n_tracks": len(track_genre_sets),
        "n_tracks_with_genres": int(np.count_nonzero(np.diff(incidence.indptr))),
        "n_tracks_with_vocab_genres": int(np.count_nonzero(np.diff(kept.tocsr().indptr))),
        "n_genres_seen": len(names),
        "n_genres": n_kept,
        "n_below_min_count": int(np.count_nonzero(counts < min_count)),
        "n_cut_by_max_genres": int(np.count_nonzero(counts >= min_count)) - n_kept,
        "min_count": min_count,
        "max_genres": max_genres,
        "nonzero_pairs": off_diagonal // 2,
        "density": off_diagonal / (n_kept * (n_kept - 1)) if n_kept > 1 else 0.0,
    }
    vocab = np.asarray([names[i] for i in order], dtype=np.str_) if n_kept else np.zeros(0, "<U1")
    return GenreSimilarity(vocab=vocab, cooc=cooc, S=similarity, stats=stats)


def load_genre_similarity(path: Path | str) -> GenreSimilarity:
    """Load and check a ``genre_similarity_matrix.npz`` (no pickle).

    Raises :class:`~.npzio.ArtifactFileError` naming the file on a missing key or bad shape.
    """
    arrays = load_npz(path, required=("genre_vocab", "cooc", "S"))
    vocab, cooc, similarity = arrays["genre_vocab"], arrays["cooc"], arrays["S"]
    n_genres = vocab.shape[0] if vocab.ndim == 1 else -1
    if vocab.ndim != 1 or vocab.dtype.kind != "U":
        raise ArtifactFileError(f"{path}: genre_vocab must be a 1-d unicode array")
    for key, matrix in (("cooc", cooc), ("S", similarity)):
        if matrix.shape != (n_genres, n_genres):
            raise ArtifactFileError(
                f"{path}: {key} has shape {matrix.shape}, expected ({n_genres}, {n_genres})"
            )
    stats = read_json_array(arrays["stats"], path=path, key="stats") if "stats" in arrays else {}
    return GenreSimilarity(
        vocab=vocab,
        cooc=cooc.astype(np.float32, copy=False),
        S=similarity.astype(np.float32, copy=False),
        stats=dict(stats),
    )

"""Journeys: a playlist that walks from one track to another through waypoints in small steps.

Method (figures in ``docs/playlist-method.md``): the anchors (FROM, the ``--via`` waypoints,
TO) split the journey into legs; the tracks between anchors are shared out over the legs in
proportion to their length. Per leg a → b with m tracks between:

1. Candidates: tracks strictly closer to b than a is (so progress is possible), not used yet,
   not excluded, present on disk and not a repeat of a listed song; the ones nearest to the
   segment a–b are kept (at most ``max(12 m, 200)``, cut at 800).
2. Sorted by distance to b, descending, they form a DAG: an edge i → j exists only when j is
   strictly closer to b than i, so every path makes monotone progress to the next anchor.
3. Dynamic programming over paths of 1 … m + 1 edges gives, per length, the smallest possible
   largest step (minimax). The longest path whose largest step stays within 1.5 × the library's
   median nearest-neighbour distance (or within the best possible, when even that is larger) is
   taken: forcing more tracks into a leg than the library has between its ends would only force
   big detours. Among those paths, the least sum of squared steps (even, short moves). No track
   can appear twice (the DAG has no cycles; used tracks leave the pool).

Distances are Euclidean between L2-normalised embedding rows (``sqrt(2 − 2 cos)``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .playlist import Artifacts, PlaylistEntry, PlaylistError, make_entry, song_key

__all__ = [
    "Journey",
    "generate_journey",
    "interpolation_path",
    "median_nn_distance",
    "nearest_neighbour_chain",
    "step_distances",
]

FloatArray = npt.NDArray[np.float32]
_CANDIDATE_CAP = 800
STEP_BOUND = 1.5  # largest step, in median nearest-neighbour distances, a journey aims for
NN_SAMPLE = 128


@dataclass(frozen=True)
class Journey:
    """Entries in play order (anchors included) and the distance of each step."""

    entries: list[PlaylistEntry]
    requested: int
    steps: list[float]
    mode: str

    @property
    def largest_step(self) -> float:
        return max(self.steps, default=0.0)

    @property
    def mean_step(self) -> float:
        return float(np.mean(self.steps)) if self.steps else 0.0


def step_distances(embedding: FloatArray, rows: Sequence[int]) -> list[float]:
    """Euclidean distance of each consecutive pair of ``rows``."""
    if len(rows) < 2:
        return []
    vectors = embedding[np.asarray(rows, dtype=np.intp)].astype(np.float64)
    return [float(d) for d in np.linalg.norm(np.diff(vectors, axis=0), axis=1)]


def _distances_to(embedding: FloatArray, row: int) -> npt.NDArray[np.float64]:
    """(N,) Euclidean distance of every row of ``embedding`` to row ``row``."""
    # float32 arithmetic: a float64 copy of 100k rows costs more than the distances.
    distances: npt.NDArray[np.float64] = np.linalg.norm(embedding - embedding[row], axis=1).astype(
        np.float64
    )
    return distances


def median_nn_distance(embedding: FloatArray, *, sample: int | None = None, seed: int = 0) -> float:
    """Median distance from a track to its nearest other track (over ``sample`` random tracks,
    all when None), the yardstick for a journey's steps."""
    n_rows = embedding.shape[0]
    if n_rows < 2:
        return 0.0
    rows = np.arange(n_rows)
    if sample is not None and sample < n_rows:
        rows = np.random.default_rng(seed).choice(n_rows, size=sample, replace=False)
    values = np.ascontiguousarray(embedding, dtype=np.float32)
    norms = np.einsum("ij,ij->i", values, values)
    nearest = []
    for start in range(0, rows.size, 128):
        block = rows[start : start + 128]
        # ||a − b||² = ||a||² + ||b||² − 2 a·b, in float32 (blocks of 128 × N).
        squared = values[block] @ values.T
        squared *= -2
        squared += norms[None, :]
        squared[np.arange(block.size), block] = np.inf
        closest = squared.min(axis=1) + norms[block]
        nearest.append(np.sqrt(np.maximum(closest.astype(np.float64), 0.0)))
    return float(np.median(np.concatenate(nearest)))


def _share_out(total: int, lengths: Sequence[float]) -> list[int]:
    """``total`` split over legs in proportion to ``lengths`` (largest remainder)."""
    weights = np.asarray(lengths, dtype=np.float64)
    if total <= 0:
        return [0] * len(lengths)
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    exact = total * weights / weights.sum()
    shares = np.floor(exact).astype(int)
    for leg in np.argsort(-(exact - shares), kind="stable")[: total - int(shares.sum())]:
        shares[leg] += 1
    return [int(s) for s in shares]


def generate_journey(
    art: Artifacts,
    anchors: Sequence[int],
    *,
    count: int,
    mode: str = "dynamic",
    exclude: Iterable[int] = (),
    exists: Callable[[str], bool] = os.path.exists,
) -> Journey:
    """A journey of ``count`` tracks through the artifact rows ``anchors`` (FROM, waypoints…,
    TO), in the hybrid embedding (``sonic-only``: the sonic one). Shorter when the library has
    too few tracks between the anchors."""
    anchors = [int(a) for a in anchors]
    if len(anchors) < 2:
        raise PlaylistError("a journey needs a start and an end track")
    if any(not 0 <= a < len(art) for a in anchors):
        raise PlaylistError(f"anchor out of range (artifacts have {len(art)} tracks)")
    if len(set(anchors)) < len(anchors):
        raise PlaylistError(
            "a journey visits each track once: start, waypoints and end must be different tracks"
        )
    if count < len(anchors):
        raise PlaylistError(
            f"count {count} is less than the {len(anchors)} start, waypoint and end tracks"
        )
    embedding = art.sonic if mode == "sonic-only" else art.hybrid
    usable = np.ones(len(art), dtype=bool)
    usable[np.asarray(list(exclude), dtype=np.intp)] = False
    usable[anchors] = False
    songs = {song_key(art, a) for a in anchors}
    legs = list(itertools.pairwise(anchors))
    lengths = [float(np.linalg.norm(embedding[a] - embedding[b])) for a, b in legs]
    shares = _share_out(count - len(anchors), lengths)
    # The step bound: STEP_BOUND × the median nearest-neighbour distance (sampled: at 100k
    # tracks all pairs would take seconds).
    bound = STEP_BOUND * median_nn_distance(embedding, sample=NN_SAMPLE)

    rows = [anchors[0]]
    for (a, b), between in zip(legs, shares, strict=True):
        path = _leg(art, embedding, a, b, between, usable, songs, exists, bound)
        usable[path] = False
        rows += [*path, b]
    steps = step_distances(embedding, rows)
    anchor_set = set(anchors)
    # An entry's score: its cosine to the track before it (1 for the first).
    entries = [
        make_entry(
            art,
            row,
            float(embedding[row] @ embedding[rows[i - 1]]) if i else 1.0,
            step="seed" if row in anchor_set else "journey",
        )
        for i, row in enumerate(rows)
    ]
    return Journey(entries=entries, requested=count, steps=steps, mode=mode)


def _leg(
    art: Artifacts,
    embedding: FloatArray,
    a: int,
    b: int,
    between: int,
    usable: npt.NDArray[np.bool_],
    songs: set[tuple[str, str]],
    exists: Callable[[str], bool],
    bound: float,
) -> list[int]:
    """Up to ``between`` rows from a to b (exclusive): minimax largest step, then least sum of
    squared steps, strictly decreasing distance to b."""
    if between == 0:
        return []
    to_b = _distances_to(embedding, b)
    pool = np.flatnonzero(usable & (to_b < to_b[a]))
    if pool.size == 0:
        return []
    # Distance to the segment a–b ranks the corridor.
    va, vb = embedding[a].astype(np.float64), embedding[b].astype(np.float64)
    direction = vb - va
    span = float(direction @ direction)
    offsets = embedding[pool].astype(np.float64) - va
    t = np.clip(offsets @ direction / span, 0.0, 1.0) if span > 0 else np.zeros(pool.size)
    off_segment = np.linalg.norm(offsets - t[:, None] * direction, axis=1)
    limit = min(_CANDIDATE_CAP, max(12 * between, 200))
    corridor: list[int] = []
    for row in pool[np.argsort(off_segment, kind="stable")].tolist():
        if len(corridor) >= limit:
            break
        song = song_key(art, row)
        if song in songs or not exists(str(art.item_paths[row])):
            continue
        songs.add(song)
        corridor.append(row)
    nodes = np.array([a, *sorted(corridor, key=lambda r: -to_b[r]), b], dtype=np.intp)
    path = _bottleneck_path(embedding[nodes], to_b[nodes], between + 1, bound)
    chosen = [int(nodes[i]) for i in path[1:-1]]
    # Tracks of the corridor not on the path may be another leg's songs.
    for row in corridor:
        if row not in chosen:
            songs.discard(song_key(art, row))
    return chosen


def _bottleneck_path(
    vectors: FloatArray, to_end: npt.NDArray[np.float64], edges: int, bound: float
) -> list[int]:
    """Node indices 0 → last along a DAG path (i → j iff j > i and ``to_end[j] < to_end[i]``)
    with at most ``edges`` edges: the most edges whose least possible largest step stays within
    ``bound`` (or within the best possible largest step, when that is larger); among those
    paths, the least sum of squared steps."""
    n_nodes = vectors.shape[0]
    values = vectors.astype(np.float64)
    norms = np.sum(values**2, axis=1)
    dist = np.sqrt(np.maximum(norms[:, None] + norms[None, :] - 2 * values @ values.T, 0.0))
    allowed = np.triu(np.ones((n_nodes, n_nodes), dtype=bool), k=1)
    allowed &= to_end[None, :] < to_end[:, None]
    largest = _minimax(dist, allowed, min(edges, n_nodes - 1))  # largest[n - 1]: n edges
    limit = max(bound, float(np.min(largest)))
    fits = [n for n, value in enumerate(largest, start=1) if value <= limit + 1e-9]
    n_edges = max(fits)
    return _least_squares_path(dist, allowed & (dist <= largest[n_edges - 1] + 1e-9), n_edges)


def _minimax(
    dist: npt.NDArray[np.float64], allowed: npt.NDArray[np.bool_], edges: int
) -> list[float]:
    """Least possible largest step of a 0 → last path with exactly 1, 2, …, ``edges`` edges."""
    weights = np.where(allowed, dist, np.inf)
    best = weights[0].copy()  # paths of one edge from node 0
    largest = [float(best[-1])]
    for _ in range(edges - 1):
        best = np.min(np.maximum(best[:, None], weights), axis=0)
        largest.append(float(best[-1]))
    return largest


def _least_squares_path(
    dist: npt.NDArray[np.float64], allowed: npt.NDArray[np.bool_], edges: int
) -> list[int]:
    weights = np.where(allowed, dist**2, np.inf)
    cost = weights[0].copy()
    parents = []
    for _ in range(edges - 1):
        total = cost[:, None] + weights
        parent = np.argmin(total, axis=0)
        cost = total[parent, np.arange(total.shape[1])]
        parents.append(parent)
    node = dist.shape[0] - 1
    path = [node]
    for parent in reversed(parents):
        node = int(parent[node])
        path.append(node)
    path.append(0)
    return path[::-1]


def nearest_neighbour_chain(
    embedding: FloatArray, a: int, b: int, between: int, usable: npt.NDArray[np.bool_]
) -> list[int]:
    """Baseline: from a, step to the nearest unused track that is closer to b, ``between``
    times, then to b."""
    to_b = _distances_to(embedding, b)
    free = usable.copy()
    free[[a, b]] = False
    rows = [a]
    for _ in range(between):
        here = rows[-1]
        options = np.flatnonzero(free & (to_b < to_b[here]))
        if options.size == 0:
            break
        near = _distances_to(embedding, here)[options]
        rows.append(int(options[np.argmin(near)]))
        free[rows[-1]] = False
    return [*rows, b]


def interpolation_path(
    embedding: FloatArray, a: int, b: int, between: int, usable: npt.NDArray[np.bool_]
) -> list[int]:
    """Baseline: the unused track nearest to each of ``between`` evenly spaced points on the
    straight line from a to b."""
    free = usable.copy()
    free[[a, b]] = False
    values = embedding.astype(np.float64)
    rows = [a]
    for j in range(1, between + 1):
        point = values[a] + (values[b] - values[a]) * j / (between + 1)
        options = np.flatnonzero(free)
        if options.size == 0:
            break
        row = int(options[np.argmin(np.linalg.norm(values[options] - point, axis=1))])
        rows.append(row)
        free[row] = False
    return [*rows, b]

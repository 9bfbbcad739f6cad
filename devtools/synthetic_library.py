"""Synthetic libraries of :class:`TrackRecord` for tests and benchmarks.

Tracks fall into sonic clusters; each cluster has a few "home" genres that most of its tracks
carry, so genre and sonic neighbourhoods agree the way they do in real libraries. Sonic vectors
have per-feature offsets and scales of very different sizes (as raw beat3tower features do).
Deterministic for a given seed.

    lib = synthetic_library(10_000, 300, seed=1)
    build_synthetic_artifacts(out_dir, 10_000, 300)   # writes both npz files
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from beetsplug._dspipeline.artifact_format import GENRE_SIM_FILE
from beetsplug._dspipeline.artifacts import ArtifactBuildResult, TrackRecord, build_artifacts
from beetsplug._dspipeline.embedding import N_SONIC_FEATURES, ArtifactConfig
from beetsplug._dspipeline.genre_sim import build_genre_similarity

__all__ = [
    "SyntheticLibrary",
    "build_synthetic_artifacts",
    "synthetic_genre_names",
    "synthetic_library",
]

_ARTIST_NAMES = (
    "坂本龍一",
    "Björk",
    "Sigur Rós",
    "Mötley Crüe",
    "Ólafur Arnalds",
    "王菲",
    "Röyksopp",
)


@dataclass(frozen=True)
class SyntheticLibrary:
    """Generated tracks plus the ground truth: cluster per track (N,), genre names (G,)."""

    tracks: list[TrackRecord]
    clusters: np.ndarray
    genres: list[str]

    def genre_sets(self) -> list[set[str]]:
        """Per track, the set of its genres (input for ``build_genre_similarity``)."""
        return [set(track.genre_weights) for track in self.tracks]


def synthetic_genre_names(n_genres: int) -> list[str]:
    """``n_genres`` distinct lower-case genre names ("genre 0007")."""
    return [f"genre {i:04d}" for i in range(n_genres)]


def synthetic_library(
    n_tracks: int,
    n_genres: int,
    *,
    n_clusters: int = 20,
    seed: int = 0,
    missing_sonic: float = 0.0,
    without_genres: float = 0.0,
    home_genres: int = 6,
) -> SyntheticLibrary:
    """``n_tracks`` records over ``n_genres`` genres in ``n_clusters`` sonic clusters.

    ``missing_sonic`` / ``without_genres`` are the shares of tracks with ``full=None`` / no
    genres. Each track carries 1–4 genres, 80 % of them from its cluster's home genres.
    """
    rng = np.random.default_rng(seed)
    genres = synthetic_genre_names(n_genres)
    clusters = rng.integers(0, n_clusters, n_tracks)
    centres = rng.normal(0.0, 1.0, (n_clusters, N_SONIC_FEATURES))
    offsets = rng.normal(0.0, 50.0, N_SONIC_FEATURES)
    scales = rng.lognormal(0.0, 2.0, N_SONIC_FEATURES)
    # Full, start, mid, end per track in one block; segments are noisy copies of full.
    # float32 throughout: 100k tracks need 220 MB here, not 900 MB.
    shape = (n_tracks, N_SONIC_FEATURES)
    full = centres[clusters].astype(np.float32) + rng.standard_normal(shape, np.float32) * 0.5
    sonic = np.repeat(full[:, None, :], 4, axis=1)
    sonic[:, 1:] += rng.standard_normal((n_tracks, 3, N_SONIC_FEATURES), np.float32) * 0.2
    sonic *= scales.astype(np.float32)
    sonic += offsets.astype(np.float32)

    # Zipf-like global popularity; each cluster's home genres drawn from it.
    popularity = 1.0 / np.arange(1, n_genres + 1)
    popularity /= popularity.sum()
    homes = np.array([rng.choice(n_genres, home_genres, p=popularity) for _ in range(n_clusters)])
    n_per_track = rng.integers(1, 5, n_tracks)
    from_home = rng.random((n_tracks, 4)) < 0.8
    home_pick = homes[clusters[:, None], rng.integers(0, home_genres, (n_tracks, 4))]
    global_pick = rng.choice(n_genres, (n_tracks, 4), p=popularity)
    picks = np.where(from_home, home_pick, global_pick)
    levels = rng.choice([1.0, 0.8, 0.5], (n_tracks, 4))
    no_genres = rng.random(n_tracks) < without_genres
    no_sonic = rng.random(n_tracks) < missing_sonic
    has_discogs = rng.random(n_tracks) < 0.7
    artists = rng.integers(0, max(1, n_tracks // 10), n_tracks)

    tracks = []
    for i in range(n_tracks):
        weights: dict[str, float] = {}
        if not no_genres[i]:
            for j in range(n_per_track[i]):
                name = genres[picks[i, j]]
                weights[name] = max(weights.get(name, 0.0), float(levels[i, j]))
        artist_index = int(artists[i])
        artist = (
            _ARTIST_NAMES[artist_index]
            if artist_index < len(_ARTIST_NAMES)
            else f"Artist {artist_index}"
        )
        full, start, mid, end = (None, None, None, None) if no_sonic[i] else sonic[i]
        tracks.append(
            TrackRecord(
                track_id=f"t{i:07d}",
                item_id=i + 1,
                path=f"/music/synthetic/{artist}/{i:07d}.flac",
                artist=artist if i % 7 else f"{artist} feat. Guest {i}",
                title=f"Track {i}",
                album_id=f"album-{i // 10}",
                genre_weights=weights,
                has_discogs=bool(has_discogs[i]) and bool(weights),
                bpm=float(sonic[i, 0, 19]),
                full=full,
                start=start,
                mid=mid,
                end=end,
            )
        )
    return SyntheticLibrary(tracks=tracks, clusters=clusters, genres=genres)


def build_synthetic_artifacts(
    out_dir: Path,
    n_tracks: int,
    n_genres: int,
    *,
    seed: int = 0,
    config: ArtifactConfig | None = None,
) -> ArtifactBuildResult:
    """Write ``genre_similarity_matrix.npz`` and ``data_matrices_step1.npz`` for a synthetic
    library into ``out_dir``."""
    library = synthetic_library(n_tracks, n_genres, seed=seed)
    similarity = build_genre_similarity(library.genre_sets())
    similarity.save(Path(out_dir) / GENRE_SIM_FILE)
    return build_artifacts(
        library.tracks,
        similarity,
        Path(out_dir),
        config=config,
        fingerprint=f"synthetic-{n_tracks}-{n_genres}-{seed}",
        meta={"library": "synthetic", "sidecar": None, "limit": None},
    )

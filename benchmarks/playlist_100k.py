"""Playlist speed on 100k-track synthetic DS artifacts: load time, then selection + ordering.

Usage: .venv/bin/python benchmarks/playlist_100k.py [--tracks 100000] [--genres 300] [--keep DIR]

Writes contract-shaped artifacts (clustered sonic vectors and genre sets, 30-d sonic embedding,
32-d genre block) to a temporary directory, loads them with ``load_artifacts`` and times
``generate_playlist`` (30 tracks) per mode over several seeds. Prints seconds and peak RSS.
Target: a 30-track playlist in < 1 s after loading.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug._dspipeline.npzio import json_array, str_array, write_npz_atomic
from beetsplug._dspipeline.playlist import (
    MATRICES_FILE,
    generate_playlist,
    load_artifacts,
)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def write_synthetic(out_dir: Path, n_tracks: int, n_genres: int, seed: int = 0) -> Path:
    """Clustered synthetic artifacts: 60 clusters, 4-track albums by 8-album artists."""
    rng = np.random.default_rng(seed)
    n_clusters = 60
    labels = rng.integers(n_clusters, size=n_tracks)
    centres = rng.normal(size=(n_clusters, 30))
    sonic = centres[labels] + 0.8 * rng.normal(size=(n_tracks, 30))
    cluster_genres = rng.integers(n_genres, size=(n_clusters, 5))
    genre_raw = np.zeros((n_tracks, n_genres), dtype=np.float32)
    picks = cluster_genres[labels[:, None], rng.integers(5, size=(n_tracks, 3))]
    np.put_along_axis(genre_raw, picks, 1.0, axis=1)
    genre_raw[rng.random(n_tracks) < 0.03] = 0.0  # some tracks without genres
    present = (genre_raw > 0).astype(np.float32)
    cooc = present.T @ present
    counts = np.diag(cooc)
    union = counts[:, None] + counts[None, :] - cooc
    jaccard = np.divide(cooc, union, out=np.zeros_like(cooc), where=cooc > 0)
    smoothed = (genre_raw @ jaccard).astype(np.float32)
    genre_block = _unit_rows(smoothed[:, :32])
    sonic_unit = _unit_rows(sonic)
    hybrid = _unit_rows(np.hstack([np.sqrt(0.6) * sonic_unit, np.sqrt(0.4) * genre_block]))
    noise = 0.3 * rng.normal(size=sonic.shape)
    write_npz_atomic(
        out_dir / MATRICES_FILE,
        track_ids=str_array(f"{i:016x}" for i in range(n_tracks)),
        artist_keys=str_array(f"artist {i // 32}" for i in range(n_tracks)),
        track_artists=str_array(f"Artist {i // 32}" for i in range(n_tracks)),
        track_titles=str_array(f"Title {i}" for i in range(n_tracks)),
        X_sonic=rng.normal(size=(n_tracks, 137)).astype(np.float32),
        X_genre_raw=genre_raw,
        X_genre_smoothed=smoothed,
        genre_vocab=str_array(f"genre {j}" for j in range(n_genres)),
        item_ids=np.arange(1, n_tracks + 1, dtype=np.int64),
        item_paths=str_array(f"/music/Artist {i // 32}/{i:06d}.flac" for i in range(n_tracks)),
        bpm_array=rng.uniform(60, 180, size=n_tracks).astype(np.float32),
        dsp_sonic_embedding=sonic_unit,
        dsp_sonic_embedding_start=_unit_rows(sonic + noise),
        dsp_sonic_embedding_end=_unit_rows(sonic - noise),
        dsp_hybrid_embedding=hybrid,
        dsp_meta=json_array(
            {"format": "dspipeline-artifacts", "format_version": 1, "n_tracks": n_tracks}
        ),
    )
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--genres", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=10, help="seeds timed per mode")
    parser.add_argument("--keep", type=Path, help="write the artifacts here and keep them")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        write_synthetic(out_dir, args.tracks, args.genres)
        size_mb = (out_dir / MATRICES_FILE).stat().st_size / 2**20
        print(
            f"wrote {args.tracks} tracks x {args.genres} genres ({size_mb:.0f} MiB) "
            f"in {time.perf_counter() - began:.1f} s"
        )

        began = time.perf_counter()
        art = load_artifacts(out_dir)
        load_s = time.perf_counter() - began
        began = time.perf_counter()
        _ = art.genre_present, art.genre_counts, art.genre_norms  # built on first use
        index_s = time.perf_counter() - began
        print(f"load_artifacts: {load_s:.2f} s; genre index on first use: {index_s:.2f} s")

        exists = lambda path: True  # noqa: E731 (file checks are not what is timed here)
        rng = np.random.default_rng(1)
        with_genres = np.flatnonzero(art.genre_counts > 0)
        seeds = rng.choice(with_genres, size=args.seeds, replace=False).tolist()
        print(f"{'mode':<11} {'median s':>9} {'max s':>7} {'tracks':>7}  target < 1 s")
        for mode in ("narrow", "dynamic", "discover", "sonic-only"):
            times, lengths = [], []
            for seed in seeds:
                began = time.perf_counter()
                entries = generate_playlist(art, [seed], count=30, mode=mode, exists=exists)
                times.append(time.perf_counter() - began)
                lengths.append(len(entries))
            print(
                f"{mode:<11} {statistics.median(times):>9.3f} {max(times):>7.3f} "
                f"{min(lengths):>3}-{max(lengths):<3}"
            )
        began = time.perf_counter()
        generate_playlist(art, seeds[:5], count=30, exists=exists)
        print(f"5 seeds, dynamic: {time.perf_counter() - began:.3f} s")
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: {peak_mb:.0f} MiB")


if __name__ == "__main__":
    main()

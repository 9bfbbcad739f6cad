"""Playlist and journey quality on real music: the public corpora, analysed with our extractor.

Usage: .venv/bin/python benchmarks/playlist_quality.py [--corpora DIR] [--cache FILE]
       [--journeys 40] [--journey-length 10]

Library: every file of ``music/drascula`` (one album, 31 tracks), ``audio/asc`` (one album),
``audio/moh`` (an album per artist) and the ``audio/sonic-pi`` samples of at least 2 s (an
"album" per sample family: ambi_, bass_, drum_, loop_, …). Features come from
``sonic.extract.analyse_file`` (cached in ``--cache``), artifacts from the real builder
(no genres: every list here is sonic).

Printed (recorded in docs/playlist-method.md):
1. For a sonic-only list of 10 from each track: the share of picks from the seed's own album and
   the mean step distance (sonic embedding, consecutive tracks in play order, seed first), for
   our lists (default caps; without the album cap), plain nearest-neighbour lists (the 10
   nearest, by similarity) and random lists.
2. Journeys between random pairs of tracks from different albums: mean and largest step of ours
   against a greedy nearest-neighbour chain and a straight-line interpolation, and the largest
   step against the library's median nearest-neighbour distance (target ≤ 1.5×).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug._dspipeline.artifacts import TrackRecord, build_artifacts
from beetsplug._dspipeline.genre_sim import build_genre_similarity
from beetsplug._dspipeline.journey import (
    generate_journey,
    interpolation_path,
    median_nn_distance,
    nearest_neighbour_chain,
    step_distances,
)
from beetsplug._dspipeline.playlist import Artifacts, generate_playlist, load_artifacts

CORPORA = Path(os.environ.get("DSP_CORPORA", Path.home() / ".cache" / "dspipeline-corpora"))
MIN_SECONDS = 2.0


def library_files(corpora: Path) -> list[tuple[Path, str, str]]:
    """(path, artist, album) of every track of the benchmark library."""
    files: list[tuple[Path, str, str]] = []
    for path in sorted((corpora / "music" / "drascula").glob("*.ogg")):
        files.append((path, "Drascula", "Drascula soundtrack"))
    for path in sorted((corpora / "audio" / "asc").glob("*.mp3")):
        files.append((path, "ASC", "ASC soundtrack"))
    for path in sorted((corpora / "audio" / "moh").glob("*.wav")):
        artist = path.stem.split("-")[0]
        files.append((path, artist, f"{artist} (moh)"))
    for path in sorted((corpora / "audio" / "sonic-pi").glob("*.flac")):
        family = path.stem.split("_")[0]
        files.append((path, "Sonic Pi", f"sonic-pi {family}"))
    return files


def analyse(files: list[tuple[Path, str, str]], cache: Path) -> dict[str, dict[str, np.ndarray]]:
    """Features per path (full/start/mid/end, duration), from the cache where possible."""
    from beetsplug._dspipeline.sonic.extract import analyse_file

    stored: dict[str, dict[str, np.ndarray]] = {}
    if cache.exists():
        with np.load(cache, allow_pickle=False) as data:
            for key in data.files:
                path, _, part = key.rpartition("::")
                stored.setdefault(path, {})[part] = data[key]
    began, analysed = time.perf_counter(), 0
    for path, _, _ in files:
        key = f"{path}|{path.stat().st_size}"
        if key in stored:
            continue
        try:
            feats = analyse_file(path)
        except Exception as exc:  # a sample too short or undecodable: left out, said why
            print(f"  skipped {path.name}: {exc}")
            stored[key] = {"duration": np.array(0.0)}
            continue
        analysed += 1
        stored[key] = {
            "full": feats.full,
            "start": feats.start,
            "mid": feats.mid,
            "end": feats.end,
            "duration": np.array(feats.duration),
        }
    if analysed:
        print(f"analysed {analysed} files in {time.perf_counter() - began:.1f} s")
        cache.parent.mkdir(parents=True, exist_ok=True)
        flat = {f"{k}::{part}": v for k, parts in stored.items() for part, v in parts.items()}
        np.savez(cache, **flat)
    return {
        path: stored[f"{path}|{Path(path).stat().st_size}"]
        for path in map(str, (f[0] for f in files))
    }


def build(
    files: list[tuple[Path, str, str]], feats: dict[str, dict[str, np.ndarray]], out: Path
) -> Artifacts:
    records = []
    for i, (path, artist, album) in enumerate(files):
        parts = feats[str(path)]
        if float(parts["duration"]) < MIN_SECONDS or "full" not in parts:
            continue
        records.append(
            TrackRecord(
                track_id=f"t{i}",
                item_id=i + 1,
                path=str(path),
                artist=artist,
                title=path.stem,
                album_id=album,
                genre_weights={},
                has_discogs=False,
                bpm=0.0,
                full=parts["full"],
                start=parts["start"],
                mid=parts["mid"],
                end=parts["end"],
            )
        )
    build_artifacts(
        records,
        build_genre_similarity([]),
        out,
        fingerprint="bench",
        meta={"library": "corpora", "sidecar": None, "limit": None},
    )
    return load_artifacts(out)


def list_metrics(art: Artifacts, rows: list[int], seed: int) -> tuple[float, float]:
    """(share of picks from the seed's album, mean step distance) of seed + picks in order."""
    picks = [r for r in rows if r != seed]
    own = float(np.mean([art.album_ids[r] == art.album_ids[seed] for r in picks]))
    return own, float(np.mean(step_distances(art.sonic, [seed, *picks])))


def lists(art: Artifacts, length: int) -> None:
    rng = np.random.default_rng(0)
    n_tracks = len(art)
    results: dict[str, list[tuple[float, float]]] = {
        "ours (default caps)": [],
        "ours, no album cap": [],
        "ours, caps 11": [],
        "nearest neighbours": [],
        "random": [],
    }
    every = lambda _: True  # noqa: E731 (the files exist; not what is measured)
    for seed in range(n_tracks):
        for name, artist_cap, album_cap in (
            ("ours (default caps)", None, None),
            ("ours, no album cap", None, length + 1),
            ("ours, caps 11", length + 1, length + 1),
        ):
            playlist = generate_playlist(
                art,
                [seed],
                count=length + 1,
                mode="sonic-only",
                max_seeds=1,
                max_per_artist=artist_cap,
                max_per_album=album_cap,
                exists=every,
            )
            results[name].append(list_metrics(art, [e.index for e in playlist.entries], seed))
        score = art.sonic @ art.sonic[seed]
        score[seed] = -np.inf
        nearest = np.argsort(-score, kind="stable")[:length].tolist()
        results["nearest neighbours"].append(list_metrics(art, nearest, seed))
        others = np.delete(np.arange(n_tracks), seed)
        results["random"].append(
            list_metrics(art, rng.choice(others, length, replace=False).tolist(), seed)
        )
    albums, sizes = np.unique(art.album_ids, return_counts=True)
    print(
        f"\nLists of {length} from each of {n_tracks} tracks ({len(albums)} albums, "
        f"{sizes.min()}–{sizes.max()} tracks each), sonic-only:"
    )
    print(f"{'list':<22} {'own-album share':>16} {'mean step':>10}")
    for name, values in results.items():
        own, step = np.mean(values, axis=0)
        print(f"{name:<22} {own:>16.3f} {step:>10.3f}")


def journeys(art: Artifacts, count: int, length: int) -> None:
    rng = np.random.default_rng(1)
    median_nn = median_nn_distance(art.sonic)
    print(f"\nJourneys of {length} tracks between {count} random pairs from different albums")
    print(f"library median nearest-neighbour distance (sonic): {median_nn:.3f}")
    rows: dict[str, list[tuple[float, float]]] = {
        "ours": [],
        "nearest-neighbour chain": [],
        "interpolation": [],
    }
    within = 0
    usable = np.ones(len(art), dtype=bool)
    pairs = 0
    while pairs < count:
        a, b = (int(x) for x in rng.choice(len(art), 2, replace=False))
        if art.album_ids[a] == art.album_ids[b]:
            continue
        pairs += 1
        journey = generate_journey(
            art, [a, b], count=length, mode="sonic-only", exists=lambda _: True
        )
        rows["ours"].append((journey.mean_step, journey.largest_step, len(journey.entries)))
        within += journey.largest_step <= 1.5 * median_nn
        for name, make in (
            ("nearest-neighbour chain", nearest_neighbour_chain),
            ("interpolation", interpolation_path),
        ):
            path = make(art.sonic, a, b, length - 2, usable)
            steps = step_distances(art.sonic, path)
            rows[name].append((float(np.mean(steps)), max(steps), len(path)))
    header = ("mean step", "largest (mean)", "largest (max)", "largest / median NN", "tracks")
    print(f"{'method':<24} " + " ".join(f"{h:>{len(h) + 1}}" for h in header))
    for name, values in rows.items():
        arr = np.array(values)
        figures = (
            arr[:, 0].mean(),
            arr[:, 1].mean(),
            arr[:, 1].max(),
            arr[:, 1].mean() / median_nn,
        )
        cells = [f"{v:>{len(h) + 1}.3f}" for v, h in zip(figures, header, strict=False)]
        cells.append(f"{arr[:, 2].mean():>{len(header[-1]) + 1}.1f}")
        print(f"{name:<24} " + " ".join(cells))
    print(f"our journeys with largest step ≤ 1.5 × median NN: {within} of {count}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=CORPORA)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "dspipeline-bench" / "playlist_quality_features.npz",
    )
    parser.add_argument("--journeys", type=int, default=40)
    parser.add_argument("--journey-length", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--list-length", type=int, default=10)
    args = parser.parse_args()
    files = library_files(args.corpora)
    if not files:
        sys.exit(f"no corpora at {args.corpora}: run ../shared/tools/fetch-corpora audio music")
    feats = analyse(files, args.cache)
    with tempfile.TemporaryDirectory() as tmp:
        art = build(files, feats, Path(tmp))
        lists(art, args.list_length)
        for length in args.journey_length:
            journeys(art, args.journeys, length)


if __name__ == "__main__":
    main()

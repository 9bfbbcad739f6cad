"""Playlist speed on 100k-track synthetic DS artifacts: load time, then selection + ordering.

Usage: .venv/bin/python benchmarks/playlist_100k.py [--tracks 100000] [--genres 300]
       [--artifacts DIR]   (reuse/keep artifacts in DIR instead of a temporary directory)

Builds the artifacts with the real builder (``devtools.synthetic_library``), loads them with
``load_artifacts`` and times ``generate_playlist`` (30 tracks) per mode over several seeds, then
``write_report`` on the same artifacts. Prints seconds and peak RSS.
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

from beetsplug._dspipeline.artifact_format import DATA_FILE
from beetsplug._dspipeline.journey import generate_journey, median_nn_distance
from beetsplug._dspipeline.playlist import generate_playlist, load_artifacts
from beetsplug._dspipeline.report import ReportData, write_report
from beetsplug._dspipeline.similar import load_similarity_index
from devtools.synthetic_library import build_synthetic_artifacts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--genres", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=10, help="seeds timed per mode")
    parser.add_argument("--artifacts", type=Path, help="reuse/keep the artifacts in this dir")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.artifacts or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        if not (out_dir / DATA_FILE).exists():
            began = time.perf_counter()
            build_synthetic_artifacts(out_dir, args.tracks, args.genres)
            print(f"built artifacts in {time.perf_counter() - began:.1f} s")
        size_mb = (out_dir / DATA_FILE).stat().st_size / 2**20
        print(f"artifacts: {size_mb:.0f} MiB")

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
        began = time.perf_counter()
        gone = generate_playlist(art, seeds[:1], count=30)  # real os.path.exists
        print(
            f"dynamic, os.path.exists on every candidate ({len(gone)} found): "
            f"{time.perf_counter() - began:.3f} s"
        )
        for label, kwargs in (
            ("strict", {"strict": True}),
            ("explain", {"explain": True}),
            ("3 seeds, 1 listed, album avoided", {"max_seeds": 1, "avoid": "album"}),
        ):
            began = time.perf_counter()
            seeds_used = seeds[:3] if "seeds" in label else seeds[:1]
            result = generate_playlist(art, seeds_used, count=30, exists=exists, **kwargs)
            print(f"dynamic, {label} ({len(result)} tracks): {time.perf_counter() - began:.3f} s")
        began = time.perf_counter()
        journey = generate_journey(art, seeds[:2], count=30, exists=exists)
        print(
            f"journey of 30 tracks: {time.perf_counter() - began:.3f} s "
            f"(largest step {journey.largest_step:.3f})"
        )
        sample_median = median_nn_distance(art.hybrid, sample=300)
        print(f"median nearest-neighbour distance (300 sampled tracks): {sample_median:.3f}")

        print("similar: query core (index load + K nearest), target < 0.5 s")
        for n_seeds in (1, 50):
            began = time.perf_counter()
            index = load_similarity_index(out_dir)
            loaded = time.perf_counter() - began
            found = index.nearest_items(art.item_ids[seeds[0] : seeds[0] + n_seeds].tolist(), 20)
            total = time.perf_counter() - began
            print(
                f"  {n_seeds:>2} seed(s): load {loaded:.3f} s, total {total:.3f} s "
                f"({len(found)} tracks; {total / 0.5:.2f} of the target)"
            )
        began = time.perf_counter()
        write_report(ReportData(), out_dir, Path(tmp) / "report.html")
        print(
            "write_report (heat map, SVG sonic map, playlist preview, BPM): "
            f"{time.perf_counter() - began:.2f} s"
        )
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS: {peak_mb:.0f} MiB (includes the build when not reused)")


if __name__ == "__main__":
    main()

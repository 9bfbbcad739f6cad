"""`beet sonicanalysis -j 2` vs `-j 1`, whole command (targets: ≥ 1.8× on ≥ 20 tracks, and
never slower on a small set).

    .venv/bin/python benchmarks/sonic_workers.py             # corpus tracks if fetched
    .venv/bin/python benchmarks/sonic_workers.py --synthetic  # generated 90-s tracks (24)

Two sets: every corpus track (music/drascula + audio/, ≥ 20 tracks) and the first 3 of them.
Each command re-analyses everything (--force) from a cold process, so `-j 2` pays for its
pool start (fork server importing librosa, workers loading the numba cache) and the parent
analyses while the pool starts. Runs alternate 1, 2, 1, 2 per set; each configuration's best
wall time counts. Other load on the machine holds the 2-worker figure down: the load average
is printed alongside.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sonic_vs_bliss import CORPORA, beets_library
from tests import audio_fixtures as fx


def pick_files(synthetic: bool, workdir: Path) -> list[Path]:
    found = sorted((CORPORA / "music" / "drascula").glob("*.ogg"))
    found += sorted((CORPORA / "audio" / "asc").glob("*.mp3"))
    found += sorted((CORPORA / "audio" / "moh").glob("*.wav"))
    if found and not synthetic:
        return found
    return [
        fx.write(workdir / f"song{i}.flac", fx.stereo(fx.song(90.0, bpm=90.0 + 5 * i, seed=i)))
        for i in range(24)
    ]


def compare(files: list[Path], workdir: Path, label: str) -> None:
    env = beets_library(files, workdir)
    best: dict[int, float] = {}
    for workers in (1, 2, 1, 2):
        started = time.perf_counter()
        env.run("sonicanalysis", "--force", "-j", str(workers))
        wall = time.perf_counter() - started
        best[workers] = min(wall, best.get(workers, wall))
        print(f"  {label}: -j {workers}: {wall:6.2f} s (load {os.getloadavg()[0]:.1f})")
    print(
        f"{label}: -j 1 {best[1]:.2f} s, -j 2 {best[2]:.2f} s: "
        f"-j 2 throughput {best[1] / best[2]:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="use generated tracks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = pick_files(args.synthetic, Path(tmp))
        print(f"cores: {os.cpu_count()}, load before: {os.getloadavg()[0]:.2f}")
        compare(files, Path(tmp) / "all", f"{len(files)} tracks")
        compare(files[:3], Path(tmp) / "small", "3 tracks")


if __name__ == "__main__":
    main()

"""`beet sonicanalysis -j 2` vs `-j 1` (targets: ≥ 1.8× the throughput on ≥ 20 tracks, and
never slower on a small set).

    .venv/bin/python benchmarks/sonic_workers.py               # corpus tracks if fetched
    .venv/bin/python benchmarks/sonic_workers.py --rounds 2    # two ABBA rounds per set
    .venv/bin/python benchmarks/sonic_workers.py --synthetic   # generated 90-s tracks (24)

One beets library holding every corpus track (music/drascula + audio/, ≥ 20 tracks); sets:
all of them, and the first 1, 3 and 5. Each command re-analyses its set (--force, the set
chosen by an `id:` query) from a cold process, so both pay the command's start-up and `-j 2`
pays for starting its worker. Runs alternate -j 1, -j 2, -j 2, -j 1 per round (ABBA: a load
that drifts during a round weighs on both alike); a configuration's figure is the mean of its
runs. Two figures per run:

- wall: the whole command, process start to exit, as a user waits for it;
- rate: the analysis phase alone, in seconds of audio per wall second: the set's audio over
  the time from the first audio file being opened (by the command or a worker: the first
  decode; polled every 5 ms in /proc) to the last track stored (the sidecar's `analysed_at`).
  Outside it: Python's and beets' start-up, planning, the warm-up (imports, filter banks;
  the worker forks after it) and the process exit.

CPU is user + system time of the command and its workers. Other load on the machine holds the
`-j 2` figures down (with a load of 1 on 2 cores there is no free core): the load average is
printed for every run.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.sonic_vs_bliss import CORPORA, beets_library
from tests import audio_fixtures as fx

if TYPE_CHECKING:
    from devtools.beets_env import BeetsEnv

SMALL_SETS = (1, 3, 5)


@dataclass(frozen=True)
class Run:
    wall: float  # seconds, whole command
    cpu: float  # seconds, user + system of the command and its workers
    rate: float | None  # seconds of audio per second in the analysis phase
    audio: float  # seconds of audio analysed
    load: float  # 1-minute load average when the run started


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


def run_once(env: BeetsEnv, workers: int, files: list[Path]) -> Run:
    """`beet sonicanalysis --force -j WORKERS id:1..N` (the first N files), timed."""
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.time()
    proc = env.popen("sonicanalysis", "--force", "-j", str(workers), f"id:1..{len(files)}")
    first_open = first_audio_open(proc, {str(path.resolve()) for path in files})
    out, _ = proc.communicate()
    wall = time.time() - started
    if proc.returncode != 0:
        raise SystemExit(f"beet sonicanalysis -j {workers} failed:\n{out}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with sqlite3.connect(env.sidecar_path) as conn:
        rows = conn.execute(
            "SELECT MAX(s.analysed_at), SUM(s.duration), COUNT(*) FROM sonic_files f"
            " JOIN sonic_features s USING (audio_key) WHERE f.item_id <= ? AND s.analysed_at >= ?",
            (len(files), started),
        ).fetchone()
    conn.close()
    last_stored, audio, count = rows
    if count != len(files):
        raise SystemExit(f"-j {workers}: {count} of {len(files)} tracks stored")
    rate = audio / (last_stored - first_open) if first_open is not None else None
    return Run(wall, cpu, rate, audio, load)


def first_audio_open(proc: subprocess.Popen[str], paths: set[str]) -> float | None:
    """When the command (or a worker) first has one of `paths` open: the first decode, the
    start of the analysis phase (planning with --force only stats files; the warm-up analyses
    a generated signal). Polled every 5 ms until then."""
    command = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            for process in (command, *command.children()):
                if any(f.path in paths for f in process.open_files()):
                    return time.time()
        except psutil.Error:  # a process ended meanwhile
            pass
        time.sleep(0.005)
    return None


def compare(env: BeetsEnv, files: list[Path], n_tracks: int, rounds: int) -> dict[int, list[Run]]:
    runs: dict[int, list[Run]] = {1: [], 2: []}
    for _ in range(rounds):
        for workers in (1, 2, 2, 1):
            run = run_once(env, workers, files[:n_tracks])
            runs[workers].append(run)
            rate = f"{run.rate:6.1f} s/s" if run.rate else "     n/a"
            print(
                f"  {n_tracks:3d} tracks -j {workers}: wall {run.wall:6.2f} s,"
                f" cpu {run.cpu:6.2f} s,"
                f" rate {rate} (load {run.load:.1f})",
                flush=True,
            )
    return runs


def mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if len(known) == len(values) else None


def table(results: dict[int, dict[int, list[Run]]]) -> None:
    print(
        "\n| set | audio | -j 1 wall | -j 2 wall | wall ratio | -j 1 rate | -j 2 rate |"
        " rate ratio | CPU -j 2 / -j 1 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n_tracks, runs in results.items():
        wall = {j: statistics.fmean(r.wall for r in runs[j]) for j in (1, 2)}
        cpu = {j: statistics.fmean(r.cpu for r in runs[j]) for j in (1, 2)}
        rate = {j: mean([r.rate for r in runs[j]]) for j in (1, 2)}
        audio = runs[1][0].audio
        rates = [f"{rate[j]:.0f} s/s" if rate[j] else "n/a" for j in (1, 2)]
        rate_ratio = f"**{rate[2] / rate[1]:.2f}×**" if rate[1] and rate[2] else "n/a"
        print(
            f"| {n_tracks} tracks | {audio / 60:.1f} min | {wall[1]:.2f} s | {wall[2]:.2f} s"
            f" | **{wall[1] / wall[2]:.2f}×** | {rates[0]} | {rates[1]} | {rate_ratio}"
            f" | {cpu[2] / cpu[1]:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="use generated tracks")
    parser.add_argument("--rounds", type=int, default=1, help="ABBA rounds per set (default 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = pick_files(args.synthetic, Path(tmp))
        env = beets_library(files, Path(tmp) / "lib")
        print(
            f"cores: {os.cpu_count()}, load before: {os.getloadavg()[0]:.2f};"
            f" {len(files)} tracks; ratios > 1: -j 2 is faster",
            flush=True,
        )
        env.run("sonicanalysis", "-j", "1", "id:1..1")  # one untimed run first (disk caches)
        results = {n: compare(env, files, n, args.rounds) for n in (len(files), *SMALL_SETS)}
        print(f"load after: {os.getloadavg()[0]:.2f}")
        table(results)


if __name__ == "__main__":
    main()

"""Throughput of the local process executor with 1 vs 2 workers (target: 2 workers ≥ 1.8×).

    .venv/bin/python benchmarks/sonic_workers.py             # corpus tracks if fetched
    .venv/bin/python benchmarks/sonic_workers.py --synthetic  # generated 90-s tracks (16)

Both runs use spawned worker processes (so start-up costs are alike). `wall` includes spawning
and librosa warm-up; `steady` is the rate between the first and the last completions once
every worker has finished one job. Other load on the machine lowers the 2-worker figure
(the load average is printed alongside); worker CPU seconds per track (spawn and warm-up
included) show whether two workers cost more work per track or only had fewer free cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import soundfile as sf

from beetsplug._dspipeline.sonic.executor import AnalysisJob, _run_local
from tests import audio_fixtures as fx

CORPUS = Path(os.environ.get("DSP_CORPORA", Path.home() / ".cache/dspipeline-corpora")) / "audio"


def pick_files(synthetic: bool, workdir: Path) -> list[Path]:
    found = sorted((CORPUS / "moh").glob("*.wav")) + sorted((CORPUS / "asc").glob("*.mp3"))
    if found and not synthetic:
        # Longest first, so the last jobs are short and no worker idles through a long tail.
        return sorted(found, key=lambda p: -sf.info(p).duration)
    return [
        fx.write(workdir / f"song{i}.flac", fx.stereo(fx.song(90.0, bpm=90.0 + 7 * i, seed=i)))
        for i in range(16)
    ]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(files: list[Path], workers: int) -> tuple[float, float, float, float]:
    """(wall s, steady tracks/s, audio s per s, worker CPU s per track) for one executor run."""
    jobs = iter([AnalysisJob(i, str(path)) for i, path in enumerate(files)])
    cpu_before = children_cpu()
    started = time.perf_counter()
    finished: list[float] = []
    audio = 0.0
    for outcome in _run_local(jobs, workers, ()):
        if outcome.features is None:
            raise SystemExit(f"analysis failed: {outcome.message}")
        audio += outcome.features.duration
        finished.append(time.perf_counter() - started)
    wall = finished[-1]
    first = finished[workers - 1]
    steady = (len(finished) - workers) / (wall - first) if wall > first else float("nan")
    # Workers are reaped when the pool closes, so their CPU time is in RUSAGE_CHILDREN now.
    cpu_per_track = (children_cpu() - cpu_before) / len(finished)
    return wall, steady, audio / wall, cpu_per_track


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="use generated tracks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = pick_files(args.synthetic, Path(tmp))
        print(f"{len(files)} tracks, cores: {os.cpu_count()}, load: {os.getloadavg()[0]:.2f}")
        results = {}
        for workers in (1, 2):
            wall, steady, rate, cpu = run(files, workers)
            results[workers] = (wall, steady)
            print(
                f"workers={workers}: wall {wall:6.2f} s, steady {steady:5.3f} tracks/s, "
                f"{rate:6.1f} s of audio per s, worker CPU {cpu:5.2f} s per track"
            )
        wall_ratio = results[1][0] / results[2][0]
        steady_ratio = results[2][1] / results[1][1]
        print(f"2 vs 1 workers: wall {wall_ratio:.2f}x, steady throughput {steady_ratio:.2f}x")
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

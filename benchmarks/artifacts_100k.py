"""Genre-sim + DS artifacts at library scale: time and peak memory.

Targets (100k tracks, 1,000 genres): genre-sim + artifacts < 60 s, peak RSS < 2 GB.

    .venv/bin/python benchmarks/artifacts_100k.py [--tracks 100000] [--genres 1000] [--tracemalloc]

Prints wall times per stage, the process's peak RSS (resource.getrusage; it includes the
synthetic input records), the RSS before the pipeline ran, and with --tracemalloc the peak
of memory allocated by the pipeline itself (numpy reports its buffers to tracemalloc).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug._dspipeline.artifact_format import GENRE_SIM_FILE
from beetsplug._dspipeline.artifacts import build_artifacts
from beetsplug._dspipeline.genre_sim import build_genre_similarity
from beetsplug._dspipeline.verify import verify_artifacts
from devtools.synthetic_library import synthetic_library

TIME_TARGET_S = 60.0
RSS_TARGET_MIB = 2048.0


def lifetime_peak_rss_mib() -> float:
    """Peak RSS of this process since it started, MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mib(field: str) -> float | None:
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return None
    values = [line.split()[1] for line in lines if line.startswith(f"{field}:")]
    return int(values[0]) / 1024 if values else None


def reset_peak_rss() -> bool:
    """Restart the kernel's peak-RSS counter (Linux ≥ 4.0), so the peak of the pipeline is
    not hidden by the synthetic-input generation before it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float:
    """Peak RSS since the last reset (VmHWM), else since start."""
    return _status_mib("VmHWM") or lifetime_peak_rss_mib()


def current_rss_mib() -> float:
    """Current RSS, MiB (VmRSS), else the lifetime peak."""
    return _status_mib("VmRSS") or lifetime_peak_rss_mib()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--genres", type=int, default=1_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace allocations")
    args = parser.parse_args()

    started = time.perf_counter()
    library = synthetic_library(args.tracks, args.genres, seed=1, without_genres=0.02)
    print(f"synthetic library: {args.tracks} tracks, {args.genres} genres "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    baseline = current_rss_mib()
    was_reset = reset_peak_rss()
    if args.tracemalloc:
        tracemalloc.start()

    with tempfile.TemporaryDirectory(prefix="dsp-bench-") as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        genre_sets = library.genre_sets()
        similarity = build_genre_similarity(genre_sets, min_count=2)
        similarity.save(out / GENRE_SIM_FILE)
        del genre_sets
        t1 = time.perf_counter()
        result = build_artifacts(
            library.tracks,
            similarity,
            out,
            fingerprint="bench",
            meta={"library": "synthetic", "sidecar": None, "limit": None},
        )
        t2 = time.perf_counter()
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if args.tracemalloc else None
        tracemalloc.stop()
        peak_after_build = peak_rss_mib()
        report = verify_artifacts(out, expected_fingerprint="bench")
        t3 = time.perf_counter()
        sizes = {p.name: p.stat().st_size / 2**20 for p in out.glob("*.npz")}

    pipeline = t2 - t0
    print(f"genre-sim ({len(similarity.vocab)} genres): {t1 - t0:6.2f} s")
    print(f"artifacts ({result.n_tracks} tracks):    {t2 - t1:6.2f} s")
    print(f"genre-sim + artifacts:          {pipeline:6.2f} s  "
          f"= {pipeline / TIME_TARGET_S:.2f} x the {TIME_TARGET_S:.0f} s target")  # fmt: skip
    print(f"verify:                         {t3 - t2:6.2f} s  ({'OK' if report.ok else 'FAILED'})")
    print(f"RSS before pipeline (inputs):   {baseline:7.0f} MiB")
    since = "pipeline start" if was_reset else "process start"
    print(f"peak RSS through artifacts:     {peak_after_build:7.0f} MiB  "
          f"= {peak_after_build / RSS_TARGET_MIB:.2f} x the 2 GiB target")  # fmt: skip
    print(f"  (peak counted since {since}; it includes the resident input records)")
    print(f"peak RSS incl. verify:          {peak_rss_mib():7.0f} MiB")
    print(f"lifetime peak RSS (incl. input generation): {lifetime_peak_rss_mib():.0f} MiB")
    if traced_peak is not None:
        print(f"tracemalloc peak (pipeline):    {traced_peak:7.0f} MiB")
    for name, size in sorted(sizes.items()):
        print(f"{name}: {size:.0f} MiB")
    shares = result.meta["embedding"]
    print(f"realised shares: {shares}")  # the weights actually achieved
    if not report.ok:
        raise SystemExit("\n".join(report.summary_lines()))


if __name__ == "__main__":
    main()

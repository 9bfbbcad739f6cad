"""Peak resident memory of one analysis worker on a 10-minute track (target: < 400 MiB).

    .venv/bin/python benchmarks/sonic_memory.py               # fast path + baseline
    .venv/bin/python benchmarks/sonic_memory.py --reference   # also the reference extractor
    .venv/bin/python benchmarks/sonic_memory.py --minutes 20

Each measurement runs in a fresh process (as a worker would) and reports its peak RSS
(VmHWM): `baseline` = imports + librosa warm-up only, `fast` = baseline + analyse_file.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(mode: str, path: str) -> None:
    """Run one measurement in this (fresh) process and print peak RSS in MiB and seconds."""
    from beetsplug._dspipeline.sonic.extract import analyse_file, warm_up

    warm_up()
    started = time.perf_counter()
    if mode == "fast":
        analyse_file(path)
    elif mode == "reference":
        from tests.sonic_reference import reference_file

        reference_file(path)
    seconds = time.perf_counter() - started
    print(f"{peak_rss_mib():.0f} {seconds:.2f}")


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork+exec,
    so a child would report its (large, fixture-generating) parent's peak."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(mode: str, path: Path) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--reference", action="store_true", help="also measure the reference")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from tests import audio_fixtures as fx

    with tempfile.TemporaryDirectory() as tmp:
        path = fx.write(Path(tmp) / "long.flac", fx.stereo(fx.song(args.minutes * 60.0, bpm=118.0)))
        print(f"{args.minutes:g}-minute 44.1 kHz stereo FLAC; peak RSS per worker process")
        modes = ["baseline", "fast"] + (["reference"] if args.reference else [])
        results = {mode: measure(mode, path) for mode in modes}
        for mode, (peak, seconds) in results.items():
            extra = "" if mode == "baseline" else f"  (+{peak - results['baseline'][0]:.0f} MiB)"
            print(f"{mode:10s} {peak:6.0f} MiB {seconds:7.2f} s{extra}")


if __name__ == "__main__":
    main()

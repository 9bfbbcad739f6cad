"""Peak resident memory of one analysis worker (targets: 10 min <= 350 MiB, 60 min <= 450 MiB).

    .venv/bin/python benchmarks/sonic_memory.py               # 10 and 60 minutes
    .venv/bin/python benchmarks/sonic_memory.py --reference   # also the reference extractor
    .venv/bin/python benchmarks/sonic_memory.py --minutes 20

Each measurement runs in a fresh process (as a worker would) and reports its peak RSS
(VmHWM): `baseline` = imports + librosa warm-up only, `decode` = baseline + decode() alone
(the decoder's share), `fast` = baseline + analyse_file (decode + extractor).
The test file is a 44.1 kHz stereo FLAC: one generated minute of music, repeated.
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
    if mode == "decode":
        from beetsplug._dspipeline.sonic.decode import decode

        decode(path)
    elif mode == "fast":
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
    parser.add_argument("--minutes", type=float, nargs="*", default=[10.0, 60.0])
    parser.add_argument("--reference", action="store_true", help="also measure the reference")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    for minutes in args.minutes:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_long_flac(Path(tmp) / "long.flac", minutes)
            print(f"{minutes:g}-minute 44.1 kHz stereo FLAC; peak RSS per worker process")
            modes = ["baseline", "decode", "fast"] + (["reference"] if args.reference else [])
            results = {mode: measure(mode, path) for mode in modes}
            for mode, (peak, seconds) in results.items():
                above = peak - results["baseline"][0]
                extra = "" if mode == "baseline" else f"  (+{above:.0f} MiB)"
                print(f"{mode:10s} {peak:6.0f} MiB {seconds:7.2f} s{extra}")


def write_long_flac(path: Path, minutes: float) -> Path:
    """One generated minute repeated: writing never holds more than that minute in memory."""
    import soundfile as sf

    from tests import audio_fixtures as fx

    minute = fx.stereo(fx.song(60.0, bpm=118.0))
    frames = int(minutes * 60 * fx.SR)
    with sf.SoundFile(path, "w", fx.SR, 2, format="FLAC", subtype="PCM_16") as out:
        while frames > 0:
            out.write(minute[:frames])
            frames -= len(minute)
    return path


if __name__ == "__main__":
    main()

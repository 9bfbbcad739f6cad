"""Fast beat3tower extractor vs the straightforward reference, one worker, one BLAS thread.

    .venv/bin/python benchmarks/sonic_speed.py            # corpus tracks of 3-5 min if fetched
    .venv/bin/python benchmarks/sonic_speed.py --synthetic  # a generated 4-min track instead
    .venv/bin/python benchmarks/sonic_speed.py --chroma    # also compare chroma strategies

Prints per-file times (decode included on both sides), the speed-up ratio and the realtime
factor (seconds of audio per second of compute) of the fast path.
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

from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from beetsplug._dspipeline.sonic import extract
from tests import audio_fixtures as fx
from tests.sonic_reference import reference_file, reference_signal

CORPUS = Path(os.environ.get("DSP_CORPORA", Path.home() / ".cache/dspipeline-corpora")) / "audio"
CORPUS_TRACKS = (
    "asc/machine_wars.mp3",
    "asc/time_to_strike.mp3",
    "moh/macroform-cold_day.wav",
    "moh/macroform-the_simplicity.wav",
)


def pick_files(synthetic: bool, workdir: Path) -> list[Path]:
    found = [CORPUS / rel for rel in CORPUS_TRACKS if (CORPUS / rel).exists()]
    if found and not synthetic:
        return found
    return [fx.write(workdir / "synthetic-240s.flac", fx.stereo(fx.song(240.0, bpm=124.0)))]


def timed(fn: object, *args: object) -> float:
    started = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - started


def compare_speed(files: list[Path]) -> None:
    print(f"{'file':34s} {'audio s':>8s} {'ref s':>7s} {'fast s':>7s} {'ratio':>6s} {'RTF':>6s}")
    total_audio = total_ref = total_fast = 0.0
    for path in files:
        fast_s = timed(extract.analyse_file, path)
        ref_s = timed(reference_file, str(path))
        duration = extract.analyse_file(path).duration
        total_audio, total_ref, total_fast = (
            total_audio + duration,
            total_ref + ref_s,
            total_fast + fast_s,
        )
        print(
            f"{path.name:34s} {duration:8.1f} {ref_s:7.2f} {fast_s:7.2f} "
            f"{ref_s / fast_s:6.2f} {duration / fast_s:6.1f}"
        )
    print(
        f"{'ALL':34s} {total_audio:8.1f} {total_ref:7.2f} {total_fast:7.2f} "
        f"{total_ref / total_fast:6.2f} {total_audio / total_fast:6.1f}"
    )


def compare_chroma(path: Path) -> None:
    """Cost and error of chroma strategies against plain librosa.feature.chroma_cqt."""
    import librosa

    y, sr = librosa.load(path, sr=22050)
    n = 1 + len(y) // 512
    tuning = librosa.estimate_tuning(y=y, sr=sr, bins_per_octave=36)
    started = time.perf_counter()
    plain = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=512)
    plain_s = time.perf_counter() - started
    _, beats = librosa.beat.beat_track(y=y, sr=sr, hop_length=512)

    def beat_medians(chroma: np.ndarray) -> np.ndarray:
        sync = librosa.util.sync(chroma, beats, aggregate=np.mean)
        return np.median(sync, axis=1)

    variants = {
        "chroma_cqt, tuning given": lambda: librosa.feature.chroma_cqt(
            y=y, sr=sr, hop_length=512, tuning=tuning
        ),
        "chroma_cqt, 12 bins/octave": lambda: librosa.feature.chroma_cqt(
            y=y, sr=sr, hop_length=512, tuning=tuning, bins_per_octave=12
        ),
        "chunked 22050 Hz": lambda: extract.chroma_chunked(y, tuning, n, decimate=False),
        "chunked 11025 Hz (used)": lambda: extract.chroma_chunked(y, tuning, n),
        "one pass 11025 Hz": lambda: extract.chroma_chunked(y, tuning, n, chunk_frames=10**7),
    }
    print(f"\nchroma strategies on {path.name} ({len(y) / sr:.0f} s), vs plain chroma_cqt")
    header = f"{'variant':28s} {'s':>6s} {'speed-up':>8s} {'mean|d|':>8s} {'max|d|':>7s}"
    print(f"{header} {'beat-median max|d|':>18s}")
    print(f"{'chroma_cqt (plain)':28s} {plain_s:6.2f} {1.0:8.2f}")
    for name, make in variants.items():
        started = time.perf_counter()
        chroma = make()
        seconds = time.perf_counter() - started
        diff = np.abs(chroma[:, : plain.shape[1]] - plain[:, : chroma.shape[1]])
        beat_diff = np.abs(beat_medians(chroma) - beat_medians(plain)).max()
        print(
            f"{name:28s} {seconds:6.2f} {plain_s / seconds:8.2f} {diff.mean():8.4f} "
            f"{diff.max():7.3f} {beat_diff:18.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", action="store_true", help="use a generated 4-min track")
    parser.add_argument("--chroma", action="store_true", help="also compare chroma strategies")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        files = pick_files(args.synthetic, Path(tmp))
        # Warm both paths (imports, numba compilation) outside the timings.
        extract.warm_up()
        reference_signal(fx.song(3.0, sr=22050).astype(np.float32))
        compare_speed(files)
        if args.chroma:
            compare_chroma(files[0])


if __name__ == "__main__":
    main()

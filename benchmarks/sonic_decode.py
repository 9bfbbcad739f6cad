"""Decoder speed per format: FFmpeg (PyAV, what `decode()` uses) vs libsndfile (soundfile).

    .venv/bin/python benchmarks/sonic_decode.py [--seconds 120] [--repeat 3]

One recording (the corpus's drascula track2.ogg when present, generated music otherwise), 44.1
kHz stereo, is encoded into each format with FFmpeg's encoders. Both sides produce what the
extractor needs: mono float32 at 22050 Hz (channel mean, soxr HQ), in blocks. Figures are CPU
milliseconds per second of audio (best of --repeat, measured side by side in one run) and the
ratio libsndfile / FFmpeg: above 1 means FFmpeg is faster.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from beetsplug._dspipeline.sonic.decode import decode  # noqa: E402
from tests import audio_fixtures as fx  # noqa: E402

CORPUS = Path(os.environ.get("DSP_CORPORA", Path.home() / ".cache" / "dspipeline-corpora"))
RECORDING = CORPUS / "music" / "drascula" / "track2.ogg"
FORMATS = {
    "wav": "wav",
    "aiff": "aiff",
    "flac": "flac",
    "alac": "m4a",
    "mp3": "mp3",
    "vorbis": "ogg",
    "opus": "opus",
    "aac": "m4a",
    "wma": "wma",
}


def sndfile_decode(path: Path) -> np.ndarray:
    """The previous decoder: libsndfile blocks, channel mean, streaming soxr HQ."""
    with sf.SoundFile(path) as f:
        resample = soxr.ResampleStream(f.samplerate, 22050, 1, dtype="float32", quality="HQ")
        out = []
        while len(block := f.read(1 << 16, dtype="float32", always_2d=True)):
            out.append(resample.resample_chunk(block.mean(axis=1, dtype=np.float32)))
        out.append(resample.resample_chunk(np.zeros(0, np.float32), last=True))
    return np.concatenate(out)


def cpu_ms(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if RECORDING.exists():
        source = fx.read_stereo(RECORDING, args.seconds)
        print(f"{RECORDING.name}, first {len(source) / fx.SR:.0f} s, 44.1 kHz stereo")
    else:
        source = fx.stereo(fx.song(args.seconds))
        print(f"generated music, {args.seconds:.0f} s, 44.1 kHz stereo (no corpus)")
    seconds = len(source) / fx.SR
    print(f"{'format':8s} {'FFmpeg ms/s':>12s} {'libsndfile ms/s':>16s} {'ratio':>6s}  max |diff|")
    with tempfile.TemporaryDirectory() as tmp:
        for codec, ext in FORMATS.items():
            path = fx.encode(Path(tmp) / f"rec-{codec}.{ext}", source, codec)
            ours = cpu_ms(lambda p=path: decode(p), args.repeat) / seconds  # type: ignore[misc]
            try:
                theirs_y = sndfile_decode(path)
            except sf.LibsndfileError:
                print(f"{codec:8s} {ours:12.2f} {'cannot read':>16s}")
                continue
            theirs = cpu_ms(lambda p=path: sndfile_decode(p), args.repeat) / seconds  # type: ignore[misc]
            y = decode(path).y
            n = min(len(y), len(theirs_y))
            diff = float(np.max(np.abs(y[:n] - theirs_y[:n]))) if n else float("nan")
            print(f"{codec:8s} {ours:12.2f} {theirs:16.2f} {theirs / ours:6.2f}  {diff:.2g}")


if __name__ == "__main__":
    main()

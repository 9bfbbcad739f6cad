"""How far lossy encoding moves the stored vectors, against how far a tiny time shift does.

    .venv/bin/python benchmarks/sonic_lossy.py [--seconds 40] [--population 20]

One real recording (the corpus's drascula track2.ogg, 44.1 kHz stereo) is written as WAV and
encoded with FFmpeg's encoders (as tests/test_sonic_formats.py does); the WAV is also shifted
by a few samples (zeros prepended: what a different encoder delay or a rip offset does). Every
file is analysed with `analyse_file`; per tower we print the cosine to the WAV's vector after
scaling each dimension by its spread across `--population` other corpus tracks, with all dims
and without the 20 `mfcc_delta_median` dims, plus the decoded file's time offset to the WAV
(cross-correlation, samples at 22,050 Hz). Needs the corpus (`fetch-corpora music`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import scipy.signal

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug._dspipeline.sonic.decode import decode
from beetsplug._dspipeline.sonic.extract import analyse_file
from beetsplug._dspipeline.sonic.layout import FEATURE_NAMES, N_FEATURES, TOWERS
from tests import audio_fixtures as fx

CORPUS = Path(os.environ.get("DSP_CORPORA", Path.home() / ".cache/dspipeline-corpora"))
MUSIC = CORPUS / "music" / "drascula"
CODECS = {"aac": "m4a", "mp3": "mp3", "vorbis": "ogg", "opus": "opus", "wma": "wma"}
SHIFTS = (1, 7, 64, 300)  # samples at 44.1 kHz: 0.02 ms to 6.8 ms
DELTA = np.array([name.startswith("mfcc_delta_median") for name in FEATURE_NAMES])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def offset(reference: np.ndarray, other: np.ndarray, search: int = 4000) -> int:
    """Lag (samples) of `other` against `reference`, from 10 s taken 5 s in."""
    start, n = 5 * 22050, 10 * 22050
    window = other[start - search : start + n + search]
    corr = scipy.signal.correlate(window, reference[start : start + n], mode="valid")
    return int(np.argmax(corr)) - search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--population", type=int, default=20)
    args = parser.parse_args()
    if not MUSIC.is_dir():
        sys.exit(f"needs the corpus: {MUSIC} (../shared/tools/fetch-corpora music)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recording = fx.read_stereo(MUSIC / "track2.ogg", args.seconds)
        files = {"wav": fx.encode(root / "rec.wav", recording, "wav")}
        for codec, ext in CODECS.items():
            files[codec] = fx.encode(root / f"rec-{codec}.{ext}", recording, codec)
        for shift in SHIFTS:
            shifted = np.concatenate([np.zeros((shift, 2), recording.dtype), recording[:-shift]])
            files[f"wav +{shift}"] = fx.encode(root / f"shift{shift}.wav", shifted, "wav")
        others = [p for p in sorted(MUSIC.glob("*.ogg")) if p.name != "track2.ogg"]
        population = np.array(
            [
                analyse_file(
                    str(fx.encode(root / f"pop{i}.wav", fx.read_stereo(p, 40.0), "wav"))
                ).full.astype(np.float64)
                for i, p in enumerate(others[: args.population])
            ]
        )
        vectors = {k: analyse_file(str(f)).full.astype(np.float64) for k, f in files.items()}
        wav_signal = decode(str(files["wav"])).y
        offsets = {k: offset(wav_signal, decode(str(f)).y) for k, f in files.items()}
    center, spread = population.mean(axis=0), population.std(axis=0)
    spread = np.where(spread > 1e-9, spread, 1.0)
    wav = (vectors["wav"] - center) / spread
    print(f"{args.seconds:g} s of drascula track2; spread over {len(population)} other tracks")
    print("| copy | offset | rhythm | timbre | timbre w/o deltas | harmony | largest delta move |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, vector in vectors.items():
        if name == "wav":
            continue
        scaled = (vector - center) / spread
        cells = []
        for tower, cut in TOWERS.items():
            dims = np.zeros(N_FEATURES, bool)
            dims[cut] = True
            cells.append(f"{cosine(scaled[dims], wav[dims]):.4f}")
            if tower == "timbre":
                cells.append(f"{cosine(scaled[dims & ~DELTA], wav[dims & ~DELTA]):.4f}")
        move = float(np.abs(scaled - wav)[DELTA].max())
        print(f"| {name} | {offsets[name]} | {' | '.join(cells)} | {move:.2f} spreads |")


if __name__ == "__main__":
    main()

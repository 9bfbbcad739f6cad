"""Start-up cost of the extractor's spectral building blocks: sonic/filterbanks.py vs librosa.

    .venv/bin/python benchmarks/sonic_filterbanks.py [--rounds 3]

Each side runs in a fresh process pinned to CPU 0, after the imports the analysis path needs
anyway (numpy, scipy.fft, scipy.sparse, soxr, PyAV). Prints, per side and as ratios:
- import: CPU seconds and RSS growth (VmRSS, MiB) of importing what the side's functions need
  (librosa: librosa itself with librosa.filters/feature/util, scipy.signal for the window);
- first call: CPU seconds to build the filter banks once (mel basis, Hann window, one tuning's
  sparse CQT basis and filter lengths) and to run chroma folding, tonnetz, pitch_tuning and
  the octave resampler once on small inputs (librosa's lazy imports and set-up included).
The median over rounds is printed; CPU time, not wall time, on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(side: str) -> dict[str, float]:
    import av  # noqa: F401
    import numpy as np
    import scipy.fft
    import scipy.sparse
    import soxr  # noqa: F401

    rss0, cpu0 = _rss_mib(), time.process_time()
    if side == "ours":
        from beetsplug._dspipeline.sonic import filterbanks as fb
    else:
        import librosa
        import librosa.feature
        import librosa.filters
        import librosa.util
        import scipy.signal
    rss1, cpu1 = _rss_mib(), time.process_time()

    rate, bins, octaves, tuning = 11025, 36, 7, -0.07
    alpha = (2.0 ** (2 / bins) - 1) / (2.0 ** (2 / bins) + 1)
    rng = np.random.default_rng(0)
    magnitude = rng.random((bins * octaves, 64), dtype=np.float32)
    pitches = rng.uniform(150, 4000, 20000).astype(np.float32)
    y = rng.standard_normal(50_001).astype(np.float32)
    if side == "ours":
        freqs = fb.C1_HZ * 2.0 ** ((tuning + np.arange(bins * octaves)) / bins)
        mel = scipy.sparse.csr_array(fb.mel(22050, 2048, 128))
        window = fb.hann(2048)
        lengths = fb.wavelet_lengths(freqs, rate, alpha)
        filters = fb.wavelet(freqs[-bins:], rate, alpha, 288)
        spectrum = np.fft.fft(filters, axis=1)[:, :145]
        basis = fb.sparsify_rows(spectrum, 0.01, np.complex64)
        chroma = fb.chroma_from_cqt(magnitude, bins)
        fb.tonnetz(chroma)
        fb.pitch_tuning(pitches, bins)
        fb.resample(y, 2, 1)
    else:
        freqs = librosa.note_to_hz("C1") * 2.0 ** ((tuning + np.arange(bins * octaves)) / bins)
        mel = scipy.sparse.csr_array(librosa.filters.mel(sr=22050, n_fft=2048))
        window = scipy.signal.get_window("hann", 2048)
        lengths, _ = librosa.filters.wavelet_lengths(freqs=freqs, sr=rate, alpha=alpha)
        filters, _ = librosa.filters.wavelet(freqs=freqs[-bins:], sr=rate, norm=1, alpha=alpha)
        filters = filters[:, 112:400]
        spectrum = np.fft.fft(filters, axis=1)[:, :145]
        basis = librosa.util.sparsify_rows(spectrum, quantile=0.01, dtype=np.complex64)
        chroma = librosa.feature.chroma_cqt(C=magnitude, sr=rate, bins_per_octave=bins)
        librosa.feature.tonnetz(chroma=chroma)
        librosa.pitch_tuning(pitches, bins_per_octave=bins)
        librosa.resample(y, orig_sr=2, target_sr=1, res_type="soxr_hq", scale=True)
    cpu2 = time.process_time()
    assert mel.shape == (128, 1025) and window.shape == (2048,) and basis.shape == (36, 145)
    assert lengths.shape == (252,)
    return {"import_cpu": cpu1 - cpu0, "import_rss": rss1 - rss0, "first_call_cpu": cpu2 - cpu1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["ours", "librosa"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    os.sched_setaffinity(0, {0})
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "librosa": []}
    for _ in range(args.rounds):
        for side, results in runs.items():  # interleaved: load changes hit both sides
            out = subprocess.run(
                [sys.executable, __file__, "--child", side],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            results.append(json.loads(out.stdout.splitlines()[-1]))

    def median(side: str, key: str) -> float:
        values = sorted(run[key] for run in runs[side])
        return values[len(values) // 2]

    print(
        f"median of {args.rounds} fresh processes each, CPU 0, after numpy/scipy.fft/sparse/soxr/av"
    )
    print(f"{'':22s}{'filterbanks':>12s}{'librosa':>12s}{'ratio':>8s}")
    for key, label, unit in (
        ("import_cpu", "import CPU", "s"),
        ("import_rss", "import RSS growth", "MiB"),
        ("first_call_cpu", "first-call CPU", "s"),
    ):
        ours, theirs = median("ours", key), median("librosa", key)
        ratio = theirs / ours if ours > 0 else float("inf")
        print(f"{label + ' (' + unit + ')':22s}{ours:12.3f}{theirs:12.3f}{ratio:7.1f}x")


if __name__ == "__main__":
    main()

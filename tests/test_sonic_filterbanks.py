"""sonic/filterbanks.py against librosa, the functions it stands in for.

Generated signals always; a real corpus recording too when ~/.cache/dspipeline-corpora/audio
(or $DSP_CORPORA/audio) is present. Tolerances are float rounding: the implementations follow
the same formulas in the same float types.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import pytest
import scipy.signal

from beetsplug._dspipeline.sonic import extract
from beetsplug._dspipeline.sonic import filterbanks as fb
from beetsplug._dspipeline.sonic.decode import decode
from tests import audio_fixtures as fx

SR = 22050
AUDIO = Path(os.environ.get("DSP_CORPORA", Path.home() / ".cache" / "dspipeline-corpora")) / "audio"
CORPUS_TRACK = AUDIO / "asc" / "frontiers.mp3"
F32 = {"rtol": 2e-7, "atol": 1e-12}  # a float32 ulp or so
F64 = {"rtol": 1e-13, "atol": 1e-15}


def _generated() -> np.ndarray:
    y = fx.song(20.0, bpm=123.0, sr=SR, seed=7).astype(np.float32)
    y[: 2 * SR] = 0.0  # silent frames: normalisations must leave them as librosa does
    return y


def _corpus() -> np.ndarray:
    if not CORPUS_TRACK.exists():
        pytest.skip(f"no corpus at {AUDIO}")
    y = decode(CORPUS_TRACK).y  # 22050 Hz mono, as the extractor sees it
    middle = len(y) // 2
    piece = y[middle - 15 * SR : middle + 15 * SR].copy()
    piece[: 2 * SR] = 0.0  # silent frames, as in the generated signal
    return piece


@pytest.fixture(
    scope="module", params=["generated", pytest.param("corpus", marks=pytest.mark.corpus)]
)
def signal(request: pytest.FixtureRequest) -> np.ndarray:
    y = _generated() if request.param == "generated" else _corpus()
    y.flags.writeable = False  # shared by the module's tests
    return y


@pytest.mark.parametrize("n", [1, 2, 3, 384, 2048, 2049])
def test_hann_is_scipys_periodic_hann(n: int) -> None:
    np.testing.assert_allclose(fb.hann(n), scipy.signal.get_window("hann", n), **F64)
    assert fb.hann(0).shape == (0,)


@pytest.mark.parametrize(
    ("sr", "n_fft", "n_mels"), [(22050, 2048, 128), (8000, 512, 40), (44100, 4096, 64)]
)
def test_mel_filters_and_fft_frequencies(sr: int, n_fft: int, n_mels: int) -> None:
    ours = fb.mel(sr, n_fft, n_mels)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels), **F32)
    np.testing.assert_allclose(
        fb.fft_frequencies(sr, n_fft), librosa.fft_frequencies(sr=sr, n_fft=n_fft), **F64
    )


def test_note_frequencies() -> None:
    assert float(librosa.note_to_hz("C1")) == pytest.approx(fb.C1_HZ, rel=1e-15)
    for note in ("A4", "C#3", "B7"):
        midi = librosa.note_to_midi(note)
        assert fb.midi_to_hz(midi) == pytest.approx(librosa.note_to_hz(note), rel=1e-15)


def _cqt_freqs(tuning: float) -> np.ndarray:
    bins = extract.CHROMA_BINS_PER_OCTAVE
    return fb.C1_HZ * 2.0 ** ((tuning + np.arange(bins * extract.CHROMA_OCTAVES)) / bins)


@pytest.mark.parametrize("tuning", [0.0, -0.17, 0.31])
@pytest.mark.parametrize("rate", [11025, 22050])
def test_wavelet_filters(tuning: float, rate: int) -> None:
    freqs, alpha = _cqt_freqs(tuning), extract._CQT_ALPHA
    lengths, _ = librosa.filters.wavelet_lengths(freqs=freqs, sr=rate, alpha=alpha)
    np.testing.assert_allclose(fb.wavelet_lengths(freqs, rate, alpha), lengths, **F64)
    top = freqs[-36:]
    theirs, _ = librosa.filters.wavelet(
        freqs=top, sr=rate, norm=1, pad_fft=True, window="hann", alpha=alpha
    )
    ours = fb.wavelet(top, rate, alpha, theirs.shape[1])
    assert ours.dtype == np.complex64
    np.testing.assert_allclose(ours, theirs, **F32)
    with pytest.raises(ValueError, match="does not fit"):
        fb.wavelet(top, rate, alpha, 8)


def _librosa_cqt_basis(tuning: float, rate: int, n_fft: int) -> Any:
    """extract._cqt_basis's sparse filters built with librosa's functions, as it once was."""
    freqs = librosa.note_to_hz("C1") * 2.0 ** ((tuning + np.arange(252)) / 36)
    basis, lengths = librosa.filters.wavelet(
        freqs=freqs[-36:], sr=rate, norm=1, pad_fft=True, window="hann", alpha=extract._CQT_ALPHA
    )
    cut = (basis.shape[1] - n_fft) // 2
    basis = basis[:, cut : cut + n_fft]
    basis *= lengths[:, None] / float(n_fft)
    spectrum = np.fft.fft(basis, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
    return librosa.util.sparsify_rows(spectrum, quantile=0.01, dtype=np.complex64)


@pytest.mark.parametrize("tuning", [0.0, -0.17, 0.31, 0.5])
@pytest.mark.parametrize("rate", [11025, 22050])
def test_cqt_basis_keeps_librosas_entries(tuning: float, rate: int) -> None:
    ours, n_fft, sqrt_lengths = extract._cqt_basis(tuning, rate)
    theirs = _librosa_cqt_basis(tuning, rate, n_fft)
    assert ours.shape == theirs.shape == (36, n_fft // 2 + 1)
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_allclose(ours.data, theirs.data, **F32)
    lengths, _ = librosa.filters.wavelet_lengths(
        freqs=_cqt_freqs(tuning), sr=rate, alpha=extract._CQT_ALPHA
    )
    np.testing.assert_allclose(sqrt_lengths, np.sqrt(lengths), **F32)


@pytest.mark.parametrize("quantile", [0.0, 0.01, 0.3, 0.99])
def test_sparsify_rows_edge_rows(quantile: float) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((6, 40)) + 1j * rng.standard_normal((6, 40))).astype(np.complex64)
    x[1] = 0.0  # all zero: keeps nothing
    x[2, ::3] = 0.0  # exact zeros are not stored
    x[3] = 1.0  # all equal: ties at the threshold stay
    x[4] = 0.0
    x[4, 7] = 2.0  # one entry
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # librosa divides the zero row by 0
        theirs = librosa.util.sparsify_rows(x, quantile=quantile, dtype=np.complex64)
    ours = fb.sparsify_rows(x, quantile, np.complex64)
    np.testing.assert_array_equal(ours.indptr, theirs.indptr)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    np.testing.assert_array_equal(ours.data, theirs.data)


def _cqt_magnitude(y: np.ndarray) -> np.ndarray:
    cqt = librosa.cqt(y, sr=SR, hop_length=512, n_bins=252, bins_per_octave=36, tuning=0.0)
    return np.abs(cqt).astype(np.float32)


def test_chroma_and_tonnetz_of_a_real_cqt(signal: np.ndarray) -> None:
    magnitude = _cqt_magnitude(signal)
    magnitude[:, :5] = 0.0  # exact silence, besides the signal's own quiet frames
    theirs = librosa.feature.chroma_cqt(C=magnitude, sr=SR, bins_per_octave=36, n_octaves=7)
    ours = fb.chroma_from_cqt(magnitude, 36)
    assert ours.dtype == np.float32 and not ours[:, :5].any()
    np.testing.assert_allclose(ours, theirs, **F32)
    assert np.allclose(ours[:, 5:].max(axis=0), 1.0)  # every sounding frame peaks at 1
    tonnetz = fb.tonnetz(theirs)
    assert not tonnetz[:, :5].any()
    np.testing.assert_allclose(tonnetz, librosa.feature.tonnetz(chroma=theirs, sr=SR), **F64)


def test_chroma_and_tonnetz_normalisation_edges() -> None:
    rng = np.random.default_rng(4)
    magnitude = rng.random((252, 40), dtype=np.float32)
    magnitude[:, 0] = 0.0  # silent
    magnitude[:, 1] = 1e-40  # subnormal: each chroma sum (21 bins) is below float32's tiny
    magnitude[:, 2] = 0.0
    magnitude[100, 2] = 3.0  # one bin
    magnitude[:, 3] *= 1e30  # loud
    theirs = librosa.feature.chroma_cqt(C=magnitude, sr=SR, bins_per_octave=36, n_octaves=7)
    ours = fb.chroma_from_cqt(magnitude, 36)
    np.testing.assert_allclose(ours, theirs, **F32)
    assert 0.0 < ours[0, 1] < 1e-36  # left unscaled, not divided by its tiny maximum
    np.testing.assert_array_equal(
        fb.cqt_to_chroma_matrix(252, 36), librosa.filters.cq_to_chroma(252, bins_per_octave=36)
    )
    chroma = rng.random((12, 30), dtype=np.float32)
    chroma[:, 0] = 0.0
    chroma[:, 1] = 0.0
    chroma[3, 1] = 1e-40  # sums below float32's tiny: left unscaled (≈ 0), not made a peak
    chroma[5, 2] = 7.0
    np.testing.assert_allclose(
        fb.tonnetz(chroma), librosa.feature.tonnetz(chroma=chroma, sr=SR), **F64
    )
    assert not fb.tonnetz(chroma)[:, 0].any() and np.abs(fb.tonnetz(chroma)[:, 1]).max() < 1e-30


def _strong_peaks(y: np.ndarray) -> np.ndarray:
    n = 1 + len(y) // extract.HOP_LENGTH
    _, mag = extract._stft_frames(y, 0, n)
    pitch, magnitude = extract._tuning_peaks(mag)
    return pitch[magnitude >= np.median(magnitude)]


def test_pitch_tuning_of_real_peaks(signal: np.ndarray) -> None:
    for cents in (0, 23, -41):
        # Detuned copies move the estimate: a test that the rule, not a constant, agrees.
        shifted = librosa.effects.pitch_shift(
            signal, sr=SR, n_steps=cents / 100, bins_per_octave=12
        )
        pitches = _strong_peaks(shifted)
        assert pitches.dtype == np.float32 and pitches.size > 100
        for bins in (12, 36):
            assert fb.pitch_tuning(pitches, bins) == librosa.pitch_tuning(
                pitches, bins_per_octave=bins, resolution=0.01
            )


def test_pitch_tuning_edges() -> None:
    rng = np.random.default_rng(5)
    grid = fb.C1_HZ * 2.0 ** ((np.arange(200) % 84 + 0.3) / 12)  # 0.3 semitone sharp
    for pitches in (grid, grid.astype(np.float32), rng.uniform(100, 4000, 7)):
        expected = librosa.pitch_tuning(pitches, bins_per_octave=12)
        assert fb.pitch_tuning(pitches, 12) == expected
    assert fb.pitch_tuning(grid, 12) == pytest.approx(0.3, abs=0.011)
    # Half a bin off in float32: most residuals are exactly 0.5, which count as -0.5.
    halfway = (fb.C1_HZ * 2.0 ** ((np.arange(30, 100) + 0.5) / 12)).astype(np.float32)
    assert fb.pitch_tuning(halfway, 12) == librosa.pitch_tuning(halfway) == -0.5
    # No positive pitch (no strong peaks): 0.0, as librosa (which also warns).
    for empty in (np.zeros(0), np.zeros(4), np.array([-3.0, 0.0])):
        with pytest.warns(UserWarning):
            assert librosa.pitch_tuning(empty) == 0.0
        assert fb.pitch_tuning(empty, 36) == 0.0
    assert extract._pooled_tuning(np.zeros(0, np.float32), np.zeros(0, np.float32)) == 0.0


def test_power_to_db(signal: np.ndarray) -> None:
    n = 1 + len(signal) // extract.HOP_LENGTH
    features, _ = extract._stft_frames(signal, 0, n)
    power = features["mel_power"]
    assert (power < 1e-10).any()  # the silent frames reach amin
    for values in (power, power.astype(np.float32), np.array([0.0, 1e-12, 1e-10, 1.0, 3e7])):
        ours = fb.power_to_db(values)
        assert ours.dtype == values.dtype
        np.testing.assert_allclose(ours, librosa.power_to_db(values, top_db=None), **F32)


@pytest.mark.parametrize("n", [1, 2, 3, 1001, 4097, 22051])
@pytest.mark.parametrize(("orig", "target"), [(2, 1), (44100, 22050), (8000, 22050)])
def test_resample_lengths_and_scale(n: int, orig: int, target: int) -> None:
    y = fx.song(1.1, sr=SR, seed=n).astype(np.float32)[:n]
    ours = fb.resample(y, orig, target)
    theirs = librosa.resample(y, orig_sr=orig, target_sr=target, res_type="soxr_hq", scale=True)
    assert ours.dtype == np.float32 and len(ours) == len(theirs) == int(np.ceil(n * target / orig))
    np.testing.assert_allclose(ours, theirs, **F32)


def test_resample_real_signal(signal: np.ndarray) -> None:
    y = signal[: len(signal) // 2 * 2 - 1]  # odd length
    theirs = librosa.resample(y, orig_sr=2, target_sr=1, res_type="soxr_hq", scale=True)
    np.testing.assert_allclose(fb.resample(y, 2, 1), theirs, **F32)


def test_analysis_imports_neither_librosa_nor_numba(tmp_path: Path) -> None:
    """The analysis (STFT features, tuning, chroma, tonnetz, tempogram, then a whole track with
    segments at 44.1 kHz) runs without librosa, numba, scipy.signal, scipy.stats or soundfile
    in the process: their imports were most of a worker's start-up CPU and memory."""
    script = tmp_path / "analysis_only.py"
    script.write_text(
        "import sys\n"
        "import numpy as np\n"
        "from beetsplug._dspipeline.sonic import extract\n"
        "y = np.random.default_rng(0).standard_normal(22050 * 5).astype(np.float32)\n"
        "n = 1 + len(y) // 512\n"
        "features, mag = extract._stft_frames(y, 0, n)\n"
        "extract._stored(features)\n"
        "tuning = extract._pooled_tuning(*extract._tuning_peaks(mag))\n"
        "extract._tonnetz(extract.chroma_chunked(y, tuning, n))\n"
        "extract._mean_tempogram(np.abs(y[:5000]), 384)\n"
        "t = np.arange(70 * 44100) / 44100\n"
        "song = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sign(np.sin(2 * np.pi * 2 * t)))\n"
        "track = extract.analyse_signal(song.astype(np.float32), 44100)\n"
        "assert track.mid.shape == (137,) and not track.beat_fallback, track.n_beats\n"
        "heavy = ('librosa', 'numba', 'llvmlite', 'scipy.signal', 'scipy.stats', 'soundfile')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout

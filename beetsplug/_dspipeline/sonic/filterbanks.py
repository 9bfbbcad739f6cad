"""Spectral building blocks of the sonic extractor, in numpy, scipy.sparse and soxr only.

Each function gives the values of the librosa function named in its docstring, with the
parameters the extractor uses (tests/test_sonic_filterbanks.py holds them to librosa's output).
librosa is the reference, not a dependency of analysis: what these functions needed from it
pulled in numba/llvmlite, scipy.signal and scipy.stats, ~1.4 s of CPU and ~170 MiB per process
before the first track (benchmarks/sonic_filterbanks.py).
The arithmetic follows the formulas step by step in the same float types, so results agree to
the last bit where the operations allow, and to float rounding elsewhere.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import soxr  # the decoder's resampler: imported by then anyway

if TYPE_CHECKING:
    import scipy.sparse

__all__ = [
    "C1_HZ",
    "chroma_from_cqt",
    "cqt_to_chroma_matrix",
    "fft_frequencies",
    "hann",
    "mel",
    "midi_to_hz",
    "pitch_tuning",
    "power_to_db",
    "resample",
    "sparsify_rows",
    "tonnetz",
    "wavelet",
    "wavelet_lengths",
]


def midi_to_hz(note: float) -> float:
    """Frequency (Hz) of a MIDI note number in equal temperament, A4 = note 69 = 440 Hz."""
    return float(440.0 * 2.0 ** ((note - 69.0) / 12.0))


C1_HZ = midi_to_hz(24.0)  # librosa.note_to_hz("C1"): the lowest constant-Q bin, ~32.7 Hz


def hann(n: int) -> np.ndarray:
    """Periodic ("DFT-even") Hann window of n samples, float64: scipy.signal.get_window("hann", n).

    One period of 0.5 + 0.5·cos over n + 1 points from -π to π, the last point dropped, so
    that overlapping frames at hop n/4 sum to a constant.
    """
    if n <= 1:
        return np.ones(n)
    window: np.ndarray = 0.5 + 0.5 * np.cos(np.linspace(-np.pi, np.pi, n + 1))
    return window[:n]


def fft_frequencies(sr: float, n_fft: int) -> np.ndarray:
    """Frequency (Hz) of each of the n_fft // 2 + 1 real-FFT bins: librosa.fft_frequencies."""
    return np.fft.rfftfreq(n_fft, d=1.0 / sr)


# Slaney's mel scale (librosa's default, htk=False): linear below 1 kHz at 200/3 Hz per mel,
# logarithmic above, 27 mels per factor 6.4.
_MEL_HZ_PER_MEL = 200.0 / 3
_MEL_LOG_HZ = 1000.0
_MEL_LOG_START = _MEL_LOG_HZ / _MEL_HZ_PER_MEL
_MEL_LOG_STEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    mels: np.ndarray = hz / _MEL_HZ_PER_MEL
    high = hz >= _MEL_LOG_HZ
    mels[high] = _MEL_LOG_START + np.log(hz[high] / _MEL_LOG_HZ) / _MEL_LOG_STEP
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    hz: np.ndarray = _MEL_HZ_PER_MEL * mels
    high = mels >= _MEL_LOG_START
    hz[high] = _MEL_LOG_HZ * np.exp(_MEL_LOG_STEP * (mels[high] - _MEL_LOG_START))
    return hz


def mel(sr: float, n_fft: int, n_mels: int = 128) -> np.ndarray:
    """Mel filter bank (n_mels, n_fft // 2 + 1) float32 over 0 Hz..sr/2: librosa.filters.mel.

    Triangles on Slaney's mel scale, each scaled by 2 / its width in Hz (Slaney's "constant
    energy per band" norm). Multiply with a power spectrogram (bins, frames).
    """
    limits = _hz_to_mel(np.array([0.0, float(sr) / 2]))
    edges = _mel_to_hz(np.linspace(limits[0], limits[1], n_mels + 2))  # Hz
    widths = np.diff(edges)
    # distance (Hz) from every band edge to every FFT bin: rows are edges
    ramps = np.subtract.outer(edges, fft_frequencies(sr, n_fft))
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    # librosa rounds the triangles to float32 before the norm and again after it.
    triangles = np.maximum(0, np.minimum(rising, falling)).astype(np.float32)
    norm = 2.0 / (edges[2:] - edges[:-2])
    weights: np.ndarray = (triangles * norm[:, None]).astype(np.float32)
    return weights


def wavelet_lengths(freqs: np.ndarray, sr: float, alpha: float) -> np.ndarray:
    """Filter length (samples, fractional) of each constant-Q bin: librosa.filters.wavelet_lengths
    with a Hann window, filter_scale 1 and gamma 0: Q · sr / f with Q = 1 / alpha."""
    quality = 1.0 / np.asarray(alpha)
    lengths: np.ndarray = quality * sr / np.asarray(freqs, dtype=np.float64)
    return lengths


def wavelet(freqs: np.ndarray, sr: float, alpha: float, size: int) -> np.ndarray:
    """Time-domain constant-Q filters (len(freqs), size) complex64, each centred in `size`
    samples: librosa.filters.wavelet(window="hann", norm=1) cut or padded to `size`.

    Filter k is a complex sinusoid at freqs[k] Hz over wavelet_lengths' samples (time 0 at
    the centre), under a periodic Hann window, scaled to unit L1 norm.
    """
    lengths = wavelet_lengths(freqs, sr, alpha)
    filters = np.zeros((len(lengths), size), np.complex64)
    for k, (length, freq) in enumerate(zip(lengths, freqs, strict=True)):
        # Sample offsets from floor(-L/2) up to floor(L/2), exclusive: ~L samples around 0.
        offsets = np.arange(np.floor(-length / 2), np.floor(length / 2))
        phase = offsets * 2 * np.pi * freq / sr
        filt = (np.cos(phase) + 1j * np.sin(phase)) * hann(len(offsets))
        filt = filt / np.sum(np.abs(filt))  # never all zero: one sample at least, window > 0
        start = (size - len(filt)) // 2
        if start < 0:
            raise ValueError(f"filter of {len(filt)} samples does not fit in {size}")
        filters[k, start : start + len(filt)] = filt
    return filters


def sparsify_rows(
    x: np.ndarray, quantile: float, dtype: type[np.generic]
) -> scipy.sparse.csr_array:
    """Rows of x (k, n) without their weakest entries: librosa.util.sparsify_rows.

    Per row, the smallest magnitudes whose sum stays below `quantile` of the row's total are
    dropped (the entry that reaches it stays, as do all entries at least as large). A CQT
    filter's spectrum is concentrated near its frequency, so the product gets cheap.
    """
    import scipy.sparse  # lazily: only the CQT basis needs it, once per process

    mags = np.abs(x)
    ordered = np.sort(mags, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # an all-zero row keeps nothing
        share = np.cumsum(ordered / np.sum(mags, axis=1, keepdims=True), axis=1)
    first_kept = np.argmax(share >= quantile, axis=1)
    threshold = ordered[np.arange(len(x)), first_kept]
    # Exact zeros are not stored (a sparse matrix holds no explicit zeros).
    keep = (mags >= threshold[:, None]) & (x != 0)
    indptr = np.concatenate([[0], np.cumsum(np.count_nonzero(keep, axis=1))])
    _, columns = np.nonzero(keep)
    return scipy.sparse.csr_array((x[keep].astype(dtype), columns, indptr), shape=x.shape)


@functools.cache
def cqt_to_chroma_matrix(n_bins: int, bins_per_octave: int) -> np.ndarray:
    """(12, n_bins) float32 of 0/1: which pitch class each constant-Q bin (from C1) adds to, as
    librosa.filters.cq_to_chroma(base_c=True) with fmin C1.

    With m = bins_per_octave / 12 bins per semitone, bin b belongs to semitone
    round(b / m) (bins up to half a semitone below C count as C), modulo the octave.
    """
    per_semitone = bins_per_octave // 12
    if per_semitone * 12 != bins_per_octave:
        raise ValueError(f"bins_per_octave={bins_per_octave} is not a multiple of 12")
    pitch_class = ((np.arange(n_bins) + per_semitone // 2) // per_semitone) % 12
    matrix = np.zeros((12, n_bins), np.float32)
    matrix[pitch_class, np.arange(n_bins)] = 1.0
    matrix.flags.writeable = False  # cached and shared
    return matrix


def chroma_from_cqt(magnitude: np.ndarray, bins_per_octave: int) -> np.ndarray:
    """Chroma (12, frames) float32 of a constant-Q magnitude (bins from C1, frames) float32:
    librosa.feature.chroma_cqt(C=magnitude, bins_per_octave=…, norm=inf).

    Each pitch class sums its bins over all octaves; each frame is then divided by its largest
    value, except frames whose maximum is below float32's tiny (silence), which stay as summed.
    """
    matrix = cqt_to_chroma_matrix(magnitude.shape[0], bins_per_octave)
    chroma: np.ndarray = np.einsum("cf,ft->ct", matrix, magnitude, optimize=True)
    # Magnitudes are ≥ 0, so librosa's threshold (values < 0 set to 0) changes nothing.
    peak = np.max(chroma, axis=0).astype(np.float64)
    peak[peak < np.finfo(chroma.dtype).tiny] = 1.0
    # Divided in float64 and rounded to the input type once, as librosa.util.normalize does.
    normalised: np.ndarray = (chroma / peak).astype(chroma.dtype)
    return normalised


@functools.cache
def _tonnetz_basis() -> np.ndarray:
    """(6, 12): each pitch class's coordinates on the circles of fifths, minor and major thirds
    (sin and cos per circle; radius 1, 1, 0.5), after Harte et al. (2006)."""
    turns = np.array([7.0 / 6, 7.0 / 6, 3.0 / 2, 3.0 / 2, 2.0 / 3, 2.0 / 3])
    angles = np.multiply.outer(turns, np.arange(12.0))
    angles[::2] -= 0.5  # cos(π(x - 1/2)) = sin(πx): even rows are the sines
    radius = np.array([1.0, 1.0, 1.0, 1.0, 0.5, 0.5])
    basis: np.ndarray = radius[:, None] * np.cos(np.pi * angles)
    basis.flags.writeable = False
    return basis


def tonnetz(chroma: np.ndarray) -> np.ndarray:
    """Tonal centroid (6, frames) float64 of chroma (12, frames): librosa.feature.tonnetz(chroma=…).

    Each frame is scaled to sum 1 (silent frames, summing below the dtype's tiny, stay zero)
    and projected onto the three circles of _tonnetz_basis.
    """
    total = np.sum(np.abs(chroma).astype(np.float64), axis=0)
    total[total < np.finfo(chroma.dtype).tiny] = 1.0
    # Rounded back to the chroma's type, as librosa.util.normalize returns it.
    normalised = (chroma / total).astype(chroma.dtype)
    result: np.ndarray = np.einsum("pc,ci->pi", _tonnetz_basis(), normalised, optimize=True)
    return result


def pitch_tuning(freqs: np.ndarray, bins_per_octave: int, resolution: float = 0.01) -> float:
    """Tuning offset (fraction of a bin, in [-0.5, 0.5)) best explaining pitches `freqs` (Hz):
    librosa.pitch_tuning.

    Each pitch's distance to the nearest bin of an A440 grid, in bins; the answer is the left
    edge of the fullest histogram cell (cells `resolution` wide). 0.0 without positive pitches.
    """
    freqs = np.atleast_1d(freqs)
    freqs = freqs[freqs > 0]
    if freqs.size == 0:
        return 0.0
    # Octaves above A0 (27.5 Hz) times bins per octave, modulo one bin; in the input's float
    # type, as librosa computes it (float32 pitches stay float32).
    residual = np.mod(bins_per_octave * np.log2(freqs / (440.0 / 16)), 1.0)
    residual[residual >= 0.5] -= 1.0  # 0.95 bins above is 0.05 below the next bin
    edges = np.linspace(-0.5, 0.5, int(np.ceil(1.0 / resolution)) + 1)
    counts, _ = np.histogram(residual, edges)
    return float(edges[np.argmax(counts)])


def power_to_db(power: np.ndarray) -> np.ndarray:
    """10·log10(max(power, 1e-10)), same shape and float type: librosa.power_to_db(power,
    ref=1.0, amin=1e-10, top_db=None). The top_db floor is the caller's (it depends on the
    stretch analysed). Works in place on a float copy; `power` is left untouched."""
    db: np.ndarray = np.maximum(power, 1e-10)
    np.log10(db, out=db)
    db *= 10.0
    return db


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """y (n,) from orig_sr to target_sr Hz with soxr HQ: librosa.resample(res_type="soxr_hq",
    fix=True, scale=True).

    The output has ceil(n · target_sr / orig_sr) samples (trimmed, or zero-padded at the end)
    and is divided by sqrt(target_sr / orig_sr), which keeps each octave's energy comparable
    in the constant-Q transform's recursive halving. Same float type as y.
    """
    ratio = float(target_sr) / orig_sr
    n_out = int(np.ceil(len(y) * ratio))
    out = np.asarray(soxr.resample(y, orig_sr, target_sr, quality="HQ"))[:n_out]
    scaled = np.zeros(n_out, y.dtype)  # soxr may give a sample or two fewer: zeros
    # Divided in float64 and rounded once, as librosa's in-place division by a float64 does;
    # in one pass (ufunc buffering), without a float64 copy of the signal.
    np.divide(out, np.sqrt(ratio), out=scaled[: len(out)], dtype=np.float64, casting="unsafe")
    return scaled

"""Fast beat3tower extraction: every expensive transform is computed once per track, in chunks.

One decode, one STFT magnitude (mel → MFCC and onset envelope, contrast, spectral shape, zero
crossings, tuning), one constant-Q chroma (also the tonnetz input). Segments are frame slices
of the full track's features; only cheap steps (log-mel, onset envelope, beats, tempogram, and
the few STFT frames at a cut) are redone per segment. docs/sonic-features.md has the layout,
the shortcuts and how close they stay to plain librosa calls.

Memory stays bounded: the STFT, CQT and tempogram run over chunks of frames, so no whole-track
spectrogram exists; what stays resident is the signal, a 128-band mel power spectrogram and a
few small frame-level features.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .decode import AnalysisError, AudioPath, decode
from .layout import (
    GRID_SECONDS,
    HOP_LENGTH,
    MIN_BEATS,
    N_FEATURES,
    N_FFT,
    N_MFCC,
    SAMPLE_RATE,
    SEGMENT_MIN_TRACK_SECONDS,
    SEGMENT_SECONDS,
)

__all__ = [
    "AnalysisError",
    "FrameFeatures",
    "TrackFeatures",
    "analyse_file",
    "analyse_signal",
    "chroma_chunked",
    "frame_features",
    "segment_features",
    "spectral_shape",
    "warm_up",
]

MIN_SECONDS = 1.0  # shorter signals carry no usable rhythm or timbre statistics
SILENCE_PEAK = 1e-4  # peak amplitude below -80 dBFS counts as silence
STFT_CHUNK_FRAMES = 512  # ~12 s per STFT chunk: its arrays (2 MB each) stay cache-friendly
CQT_CHUNK_FRAMES = 4096  # ~95 s per CQT chunk: bounds its buffers to ~40 MB; each chunk
# rebuilds librosa's filter basis (~0.05 s), so not smaller
# Context on each side of a CQT chunk; covers the longest (C1) filter and resampler ringing.
CQT_MARGIN_FRAMES = 128
TEMPOGRAM_CHUNK_FRAMES = 512  # ~5 MB of FFT buffers per chunk
# Frames at each segment end recomputed with the segment's own padding (STFT window reach: 2).
SEGMENT_EDGE_FRAMES = 4
TEMPOGRAM_WIN = 384  # librosa's default tempogram window (frames)
TEMPO_WIN = int(8.0 * SAMPLE_RATE / HOP_LENGTH)  # librosa tempo()'s 8 s window, in frames
CHROMA_BINS_PER_OCTAVE = 36  # librosa.feature.chroma_cqt defaults: 7 octaves from C1
CHROMA_OCTAVES = 7
# The tuning estimate pools the pitch peaks of every 4th frame: tens of thousands of peaks per
# track still, so the estimate (0.01-bin resolution) barely moves, at a quarter of the cost.
TUNING_STRIDE = 4
PIPTRACK_ROWS = 385  # STFT rows 0..384 reach 4135 Hz, past piptrack's 4 kHz limit


@dataclass(frozen=True)
class TrackFeatures:
    """Beat3tower vectors of one track: full and start/mid/end segments, each (137,) float32."""

    full: np.ndarray
    start: np.ndarray
    mid: np.ndarray
    end: np.ndarray
    duration: float  # seconds
    sample_rate: int  # of the source file
    n_beats: int  # beats in the full track
    beat_fallback: bool  # True when the fixed time grid was used (< 4 beats)
    bpm: float
    tempo_stability: float
    half_tempo_likely: bool
    double_tempo_likely: bool
    audio_hash: str  # content hash of the decoded audio


@dataclass(frozen=True)
class FrameFeatures:
    """Frame-level features at hop 512 of a 22050 Hz signal; every array ends in n frames."""

    mel_power: np.ndarray  # (128, n) mel power spectrogram (not yet in dB)
    contrast_peak: np.ndarray  # (7, n) spectral-contrast band peaks (linear magnitude)
    contrast_valley: np.ndarray  # (7, n) band valleys; contrast = dB(peak) - dB(valley)
    rolloff: np.ndarray  # (n,) Hz
    centroid: np.ndarray  # (n,) Hz
    bandwidth: np.ndarray  # (n,) Hz
    zcr: np.ndarray  # (n,) zero-crossing rate
    chroma: np.ndarray  # (12, n) constant-Q chroma, max-normalised per frame
    tonnetz: np.ndarray  # (6, n)
    n_samples: int  # signal length the frames cover


@dataclass(frozen=True)
class _BeatSummary:
    vector: np.ndarray  # (137,) float32
    n_beats: int
    fallback: bool
    bpm: float
    tempo_stability: float
    half_tempo_likely: bool
    double_tempo_likely: bool


def analyse_file(path: AudioPath) -> TrackFeatures:
    """Decode `path` once and compute its beat3tower vectors; raises AnalysisError."""
    audio = decode(path)
    name = os.fsdecode(path)
    return _analyse(audio.y, audio.source_sample_rate, audio.duration, audio.audio_hash, name)


def analyse_signal(y: np.ndarray, sr: int) -> TrackFeatures:
    """Beat3tower vectors of a mono signal `y` (n,) at `sr` Hz (22050 expected; else resampled)."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise AnalysisError("unsupported", f"signal: expected mono 1-d samples, got {y.shape}")
    digest = hashlib.blake2b(f"{sr}:1:".encode(), digest_size=16)
    digest.update(y.tobytes())
    duration = len(y) / sr
    if sr != SAMPLE_RATE:
        import soxr

        y = soxr.resample(y, sr, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return _analyse(y, sr, duration, digest.hexdigest(), "signal")


@functools.cache
def warm_up() -> None:
    """Trigger librosa's lazy imports and numba compilation once per process.

    librosa caches its numba functions on disk, and two processes compiling them at the same
    time can leave a corrupt cache that crashes every later process (seen with a fresh install
    and two workers). So the first compilation holds a machine-wide file lock: one process
    writes the cache, the others wait and then load it.
    """
    rng = np.random.default_rng(0)
    clicks = np.zeros(3 * SAMPLE_RATE, np.float32)
    clicks[:: SAMPLE_RATE // 2] = 1.0
    with _compile_lock():
        _track_vectors(clicks + 0.01 * rng.standard_normal(len(clicks)).astype(np.float32))


@contextlib.contextmanager
def _compile_lock() -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    path = os.path.join(tempfile.gettempdir(), "beets-dspipeline-numba.lock")
    try:
        handle = open(path, "a")  # noqa: SIM115 (held across the yield)
    except OSError:  # e.g. another user's lock file: go on unlocked
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _analyse(
    y: np.ndarray, source_sr: int, duration: float, audio_hash: str, name: str
) -> TrackFeatures:
    if not np.all(np.isfinite(y)):
        raise AnalysisError("corrupt", f"{name}: decoded samples contain NaN or infinity")
    if len(y) < MIN_SECONDS * SAMPLE_RATE:
        raise AnalysisError(
            "too_short", f"{name}: {len(y) / SAMPLE_RATE:.2f} s of audio, need {MIN_SECONDS:g} s"
        )
    if float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise AnalysisError("silent", f"{name}: silent (peak below -80 dBFS)")
    try:
        warm_up()
        with _one_blas_thread():
            full, start, mid, end = _track_vectors(y)
    except Exception as exc:  # callers get one exception type, whatever librosa raises
        message = f"{name}: feature extraction failed ({type(exc).__name__}: {exc})"
        raise AnalysisError("internal", message) from exc
    return TrackFeatures(
        full=full.vector,
        start=start,
        mid=mid,
        end=end,
        duration=duration,
        sample_rate=int(source_sr),
        n_beats=full.n_beats,
        beat_fallback=full.fallback,
        bpm=full.bpm,
        tempo_stability=full.tempo_stability,
        half_tempo_likely=full.half_tempo_likely,
        double_tempo_likely=full.double_tempo_likely,
        audio_hash=audio_hash,
    )


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """Single-threaded BLAS while analysing: parallelism comes from worker processes, and a
    fixed thread count keeps float summation order, hence the vectors, identical whichever
    executor ran them."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # librosa's scikit-learn dependency normally brings it
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[object] = threadpool_limits(1, user_api="blas")
    return limits


def _track_vectors(y: np.ndarray) -> tuple[_BeatSummary, np.ndarray, np.ndarray, np.ndarray]:
    """Full-track summary and the start/mid/end vectors (segment rules of the layout)."""
    frames = frame_features(y)
    full = summarise(frames)
    duration = len(y) / SAMPLE_RATE
    if duration <= SEGMENT_MIN_TRACK_SECONDS:
        return full, full.vector.copy(), full.vector.copy(), full.vector.copy()
    seg_samples = int(SEGMENT_SECONDS * SAMPLE_RATE)
    mid_start = round(max(0.0, duration / 2 - SEGMENT_SECONDS / 2) * SAMPLE_RATE)
    segments = []
    for start_sample in (0, mid_start, len(y) - seg_samples):
        # Segments start on the frame grid (≤ 11.6 ms from the nominal time).
        first = min(round(start_sample / HOP_LENGTH), (len(y) - seg_samples) // HOP_LENGTH)
        seg = summarise(segment_features(y, frames, first, seg_samples))
        # A segment without enough beats of its own falls back to the full-track vector.
        segments.append(full.vector.copy() if seg.fallback else seg.vector)
    return full, segments[0], segments[1], segments[2]


def frame_features(y: np.ndarray) -> FrameFeatures:
    """All frame-level features of `y` (n,) float32 at 22050 Hz, computed chunk by chunk."""
    import librosa

    n_frames = 1 + len(y) // HOP_LENGTH
    parts: dict[str, list[np.ndarray]] = {}
    pitches: list[np.ndarray] = []
    magnitudes: list[np.ndarray] = []
    for first in range(0, n_frames, STFT_CHUNK_FRAMES):
        last = min(first + STFT_CHUNK_FRAMES, n_frames)
        features, mag = _stft_frames(y, first, last)
        for key, value in features.items():
            parts.setdefault(key, []).append(value)
        pitch, magnitude = _tuning_peaks(mag[:, ::TUNING_STRIDE])
        pitches.append(pitch)
        magnitudes.append(magnitude)
        del mag
    tuning = _pooled_tuning(np.concatenate(pitches), np.concatenate(magnitudes))
    chroma = chroma_chunked(y, tuning, n_frames)
    return FrameFeatures(
        **{k: np.concatenate(v, axis=-1) for k, v in parts.items()},
        chroma=chroma,
        tonnetz=librosa.feature.tonnetz(chroma=chroma, sr=SAMPLE_RATE),
        n_samples=len(y),
    )


def _stft_frames(y: np.ndarray, first: int, last: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """STFT-derived features of frames [first, last) of `y` as a centred librosa STFT sees them.

    Returns the features (keyed like FrameFeatures fields) and the (1025, frames) magnitude.
    """
    import scipy.fft

    start, stop = first * HOP_LENGTH - N_FFT // 2, (last - 1) * HOP_LENGTH + N_FFT // 2
    # librosa.stft's framing (zero padding, periodic Hann, float32), on contiguous frame rows:
    # one windowed copy and one batched real FFT, without librosa's per-call set-up.
    signal = _padded_window(y, start, stop, "constant")
    frames = np.lib.stride_tricks.sliding_window_view(signal, N_FFT)[::HOP_LENGTH]
    mag = np.abs(scipy.fft.rfft(frames * _hann(), axis=1)).T
    peak, valley = _band_peaks_valleys(mag, _contrast_bands())
    rolloff, centroid, bandwidth = spectral_shape(mag)
    features = {
        "mel_power": np.asarray(_mel_basis() @ np.square(mag)),
        "contrast_peak": peak,
        "contrast_valley": valley,
        "rolloff": rolloff,
        "centroid": centroid,
        "bandwidth": bandwidth,
        "zcr": _zero_crossing_rate(_padded_window(y, start, stop, "edge"), last - first),
    }
    return features, mag


def _zero_crossing_rate(window: np.ndarray, n_frames: int) -> np.ndarray:
    """librosa.feature.zero_crossing_rate(center=False) of 2048-sample frames at hop 512 → (n,).

    Sign changes are counted once per 512-sample block instead of per (overlapping) frame: a
    frame [a, a + 2048) counts the changes between its own consecutive samples, i.e. four
    blocks' counts less the change that leaves the frame at a + 2047.
    librosa's rule: samples within ±1e-10 count as zero, and zero counts as positive.
    """
    blocks_per_frame = N_FFT // HOP_LENGTH
    negative = window < -1e-10
    # changes[i]: sign differs between samples i and i + 1 (zero past the window's end).
    changes = np.zeros((n_frames + blocks_per_frame - 1) * HOP_LENGTH, bool)
    np.not_equal(negative[1:], negative[:-1], out=changes[: len(window) - 1])
    blocks = np.count_nonzero(changes.reshape(-1, HOP_LENGTH), axis=1)
    counts = sum(blocks[k : k + n_frames] for k in range(blocks_per_frame))
    counts -= changes[np.arange(n_frames) * HOP_LENGTH + N_FFT - 1]
    rate: np.ndarray = counts / N_FFT
    return rate


def spectral_shape(mag: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectral rolloff (85 %), centroid and bandwidth (Hz), each (n,), of a (1025, n) magnitude.

    The values of librosa.feature.spectral_rolloff/centroid/bandwidth with their defaults, from
    three weighted sums and one cumulative sum instead of librosa's full-size normalised copies
    and deviation matrices (those made these three a third of the STFT pass).
    """
    freqs = _fft_freqs()
    # Σ m, Σ f·m and Σ f²·m in one float64 product (one conversion of `mag`).
    total, first_moment, second_moment = _moment_weights() @ mag
    # librosa.util.normalize leaves columns summing below `tiny` unscaled (silent frames → 0).
    weight = np.where(total < np.finfo(mag.dtype).tiny, 1.0, total)
    centroid = first_moment / weight
    second_moment = second_moment / weight
    # Σ p(f)·(f − c)² = E[f²] − c² for normalised p; silent columns have Σ p = 0 and give 0.
    spread = second_moment - np.where(total < np.finfo(mag.dtype).tiny, 0.0, centroid**2)
    bandwidth = np.sqrt(np.maximum(spread, 0.0))
    cumulative = np.cumsum(mag, axis=0)
    reached = cumulative >= 0.85 * cumulative[-1]
    rolloff = freqs[np.argmax(reached, axis=0)]
    return rolloff, centroid, bandwidth


@functools.cache
def _moment_weights() -> np.ndarray:
    freqs = _fft_freqs()
    return np.stack([np.ones_like(freqs), freqs, freqs**2])


@functools.cache
def _fft_freqs() -> np.ndarray:
    import librosa

    freqs: np.ndarray = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT)
    return freqs


def _padded_window(y: np.ndarray, start: int, stop: int, mode: str) -> np.ndarray:
    """y[start:stop] where indices outside the signal read as zeros ("constant") or edge values."""
    inner = y[max(start, 0) : min(stop, len(y))]
    before, after = max(0, -start), max(0, stop - len(y))
    if before == 0 and after == 0:
        return inner
    pad_mode: Any = mode
    return np.pad(inner, (before, after), mode=pad_mode)


@functools.cache
def _mel_basis() -> Any:
    """librosa's 128-band mel filters (n_fft 2048) as a sparse matrix: each band spans a few
    dozen FFT bins, so the dense product did ~50x the needed multiplications."""
    import librosa
    import scipy.sparse

    return scipy.sparse.csr_array(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT))


@functools.cache
def _hann() -> np.ndarray:
    import scipy.signal

    window: np.ndarray = scipy.signal.get_window("hann", N_FFT, fftbins=True).astype(np.float32)
    return window


def segment_features(
    y: np.ndarray, frames: FrameFeatures, first: int, n_samples: int
) -> FrameFeatures:
    """Features of y[first*512 : first*512 + n_samples] as if that audio were analysed alone.

    Interior frames are the full track's; the few STFT frames at each end, whose windows reach
    past the segment, are recomputed with the zero/edge padding a separate analysis would see
    (an onset spike at the cut decides which leading beats the tracker trims).
    """
    count = 1 + n_samples // HOP_LENGTH
    segment = y[first * HOP_LENGTH : first * HOP_LENGTH + n_samples]
    fields = {
        name: np.array(value[..., first : first + count])
        for name, value in vars(frames).items()
        if isinstance(value, np.ndarray)
    }
    edge = SEGMENT_EDGE_FRAMES
    for lo, hi in ((0, edge), (count - edge, count)):
        patch, _ = _stft_frames(segment, lo, hi)
        for name, value in patch.items():
            fields[name][..., lo:hi] = value
    return FrameFeatures(**fields, n_samples=n_samples)


@functools.cache
def _contrast_bands(
    n_bands: int = 6, fmin: float = 200.0, quantile: float = 0.02
) -> list[tuple[int, int, int]]:
    """Spectral-contrast sub-bands as STFT row ranges [lo, hi) and the bins averaged per side.

    Same bands as librosa.feature.spectral_contrast (defaults): octaves from 200 Hz, each
    widened by the bin below it; the top band runs to Nyquist. librosa's function returns only
    dB(peak) - dB(valley) with an 80 dB floor relative to the array's maximum, which would tie
    values to chunk boundaries; keeping peaks and valleys lets each track/segment set its floor.
    """
    import librosa

    freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT)
    edges = [0.0, *(fmin * 2.0 ** np.arange(n_bands + 1))]
    bands = []
    for k in range(n_bands + 1):
        inside = np.flatnonzero((freqs >= edges[k]) & (freqs <= edges[k + 1]))
        lo = int(inside[0]) - (1 if k > 0 else 0)
        last = len(freqs) - 1 if k == n_bands else int(inside[-1])
        n_side = max(1, int(np.rint(quantile * (last - lo + 1))))
        # Every band but the top one leaves out its last row (it starts the next band).
        bands.append((lo, last + 1 if k == n_bands else last, n_side))
    return bands


def _band_peaks_valleys(
    mag: np.ndarray, bands: list[tuple[int, int, int]]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the strongest / weakest bins of each band per frame → two (7, n) float64."""
    peak = np.zeros((len(bands), mag.shape[1]))
    valley = np.zeros_like(peak)
    for k, (lo, hi, n_side) in enumerate(bands):
        # Sorting along contiguous rows (frames × bins) is several times faster than along bins
        # (and than np.partition: numpy's SIMD sort wins at these widths).
        ordered = np.sort(mag[lo:hi].T, axis=1)
        valley[k] = np.mean(ordered[:, :n_side], axis=1)
        peak[k] = np.mean(ordered[:, -n_side:], axis=1)
    return peak, valley


def _tuning_peaks(mag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pitches (Hz) and magnitudes of librosa.piptrack's peaks (defaults: 150–4000 Hz).

    piptrack is frame-local, so peaks pooled over chunks give estimate_tuning's answer exactly.
    It only reports peaks below 4 kHz, so it gets the STFT rows up to ~4.1 kHz, presented as a
    smaller FFT at a proportionally lower rate (same Hz per row), plus each frame's full-band
    maximum as the threshold reference: a third of the work, identical peaks.
    """
    import librosa

    rows = PIPTRACK_ROWS
    n_fft = 2 * (rows - 1)
    column_max = mag.max(axis=0)
    pitch, magnitude = librosa.piptrack(
        S=mag[:rows],
        sr=SAMPLE_RATE * n_fft / N_FFT,
        n_fft=n_fft,
        fmin=150.0,
        fmax=4000.0,
        ref=lambda _s, axis: column_max,
    )
    found = pitch > 0
    return pitch[found], magnitude[found]


def _pooled_tuning(pitch: np.ndarray, magnitude: np.ndarray) -> float:
    """librosa.estimate_tuning's rule on pooled piptrack peaks: strong peaks' pitch deviation."""
    import librosa

    if pitch.size == 0:
        return 0.0
    strong = magnitude >= np.median(magnitude)
    return float(
        librosa.pitch_tuning(pitch[strong], bins_per_octave=CHROMA_BINS_PER_OCTAVE, resolution=0.01)
    )


def chroma_chunked(
    y: np.ndarray,
    tuning: float,
    n_frames: int,
    *,
    decimate: bool = True,
    chunk_frames: int = CQT_CHUNK_FRAMES,
    margin_frames: int = CQT_MARGIN_FRAMES,
) -> np.ndarray:
    """Constant-Q chroma (12, n_frames) of `y` at 22050 Hz, hop 512, over overlapping chunks.

    With `decimate`, the CQT runs on the signal resampled to 11025 Hz with hop 256: the top
    analysed pitch (B7, ~4 kHz) stays well below the new Nyquist, every octave's FFTs halve,
    and chroma values stay close to librosa.feature.chroma_cqt at 22050 Hz (see
    docs/sonic-features.md for the measured error).
    """
    import soxr

    factor = 2 if decimate else 1
    rate, hop = SAMPLE_RATE // factor, HOP_LENGTH // factor
    out = np.empty((12, n_frames), np.float32)
    for first in range(0, n_frames, chunk_frames):
        last = min(first + chunk_frames, n_frames)
        # Frames [first - margin, last + margin) of context; zeros beyond the signal's ends
        # stand in for the CQT's own constant padding. Resampling per chunk keeps no
        # whole-track copy; the margin also absorbs the resampler's edge transient.
        window = _padded_window(
            y, (first - margin_frames) * HOP_LENGTH, (last + margin_frames) * HOP_LENGTH, "constant"
        )
        piece = soxr.resample(window, SAMPLE_RATE, rate, quality="HQ") if decimate else window
        chroma = _chroma_cqt(np.asarray(piece, np.float32), rate, hop, tuning)
        # CQT frame k of the piece is centred on frame first - margin_frames + k.
        out[:, first:last] = chroma[:, margin_frames : margin_frames + last - first]
    return out


# Relative bandwidth of equally spaced bins (librosa's _relative_bandwidth for 36 per octave).
_CQT_ALPHA = (2.0 ** (2 / CHROMA_BINS_PER_OCTAVE) - 1) / (2.0 ** (2 / CHROMA_BINS_PER_OCTAVE) + 1)


@functools.lru_cache(maxsize=8)
def _cqt_basis(tuning: float, rate: int) -> tuple[Any, int, np.ndarray]:
    """librosa.vqt's frequency-domain filters for its top octave, and every bin's filter length.

    librosa rebuilds these filters for every octave of every call (a third of chroma_cqt's
    time); each lower octave uses the same filters, since frequencies and sample rate both halve
    (exactly, in binary floating point). Returns (sparse (36, n_fft/2+1) basis, n_fft,
    sqrt of the 252 filter lengths at `rate`).

    The FFT size is the shortest fast even length that holds the longest filter (288 at
    11025 Hz), not librosa's next power of two (512): a CQT bin is the inner product of a frame
    with its filter, both centred on the frame's time, whatever zeros surround the filter; the
    filters are librosa's, cut to their centred n_fft samples. Only which 1 % of each filter's
    spectrum sparsify_rows drops differs. Every octave's FFTs and sparse products get ~40 %
    cheaper.
    """
    import librosa
    import scipy.fft

    bins = CHROMA_BINS_PER_OCTAVE
    freqs = librosa.note_to_hz("C1") * 2.0 ** ((tuning + np.arange(bins * CHROMA_OCTAVES)) / bins)
    basis, lengths = librosa.filters.wavelet(
        freqs=freqs[-bins:], sr=rate, norm=1, pad_fft=True, window="hann", alpha=_CQT_ALPHA
    )
    # Even, like librosa's size, so the centred cut keeps every filter's position.
    n_fft = scipy.fft.next_fast_len(int(np.ceil(lengths.max())), real=True)
    while n_fft % 2:
        n_fft = scipy.fft.next_fast_len(n_fft + 1, real=True)
    cut = (basis.shape[1] - n_fft) // 2
    basis = basis[:, cut : cut + n_fft]
    basis *= lengths[:, None] / float(n_fft)
    spectrum = np.fft.fft(basis, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
    sparse = librosa.util.sparsify_rows(spectrum, quantile=0.01, dtype=np.complex64)
    all_lengths, _ = librosa.filters.wavelet_lengths(freqs=freqs, sr=rate, alpha=_CQT_ALPHA)
    return sparse, n_fft, np.sqrt(all_lengths).astype(np.float32)


def _chroma_cqt(y: np.ndarray, rate: int, hop: int, tuning: float) -> np.ndarray:
    """librosa.feature.chroma_cqt(y, sr=rate, hop_length=hop, tuning, 36 bins/octave, 7 octaves).

    The same recursive-downsampling CQT as librosa.vqt (ones-window STFT per octave, sparse
    filters, soxr_hq halving) with the filters built once, at a shorter FFT size (see
    _cqt_basis); chroma differs from librosa's by ~1e-3 per frame (docs/sonic-features.md).
    """
    import librosa
    import scipy.fft

    basis, n_fft, sqrt_lengths = _cqt_basis(tuning, rate)
    bins = CHROMA_BINS_PER_OCTAVE
    n = 1 + len(y) // hop
    magnitude = np.empty((bins * CHROMA_OCTAVES, n), np.float32)
    octave_y, octave_hop = y, hop
    for octave in range(CHROMA_OCTAVES):
        # A centred STFT with zero padding, as librosa.stft(pad_mode="constant") frames it.
        padded = np.zeros(len(octave_y) + n_fft, np.float32)
        padded[n_fft // 2 : n_fft // 2 + len(octave_y)] = octave_y
        frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::octave_hop][:n]
        # FFT along axis 0 of the transposed view: the (bins, frames) result is C-ordered, as
        # the sparse product needs (an F-ordered operand costs it a full copy).
        spectrum = scipy.fft.rfft(frames.T, axis=0)
        # librosa scales each octave by sqrt(downsampling factor) = 2 ** (octave / 2).
        response = np.abs(basis @ spectrum) * np.float32(2.0 ** (octave / 2))
        rows = slice(bins * (CHROMA_OCTAVES - 1 - octave), bins * (CHROMA_OCTAVES - octave))
        magnitude[rows] = response[:, :n]
        if octave < CHROMA_OCTAVES - 1:
            octave_hop //= 2
            octave_y = librosa.resample(
                octave_y, orig_sr=2, target_sr=1, res_type="soxr_hq", scale=True
            )
    magnitude /= sqrt_lengths[:, None]
    chroma: np.ndarray = librosa.feature.chroma_cqt(
        C=magnitude, sr=rate, bins_per_octave=bins, n_octaves=CHROMA_OCTAVES
    )
    return chroma


def summarise(frames: FrameFeatures) -> _BeatSummary:
    """The 137-d vector of one stretch of frames (full track or segment) and its beat facts."""
    import librosa

    sr, hop = SAMPLE_RATE, HOP_LENGTH
    duration = frames.n_samples / sr
    log_mel = librosa.power_to_db(frames.mel_power)  # top_db=80 relative to this stretch's max
    onset_env = librosa.onset.onset_strength(S=log_mel, sr=sr, hop_length=hop)
    # A copy: librosa returns a view into its DCT of all 128 bands, which would stay alive.
    mfcc = np.array(librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC))
    del log_mel
    mfcc_delta = librosa.feature.delta(mfcc)

    tempo_acf = _mean_tempogram(onset_env, TEMPOGRAM_WIN)
    if onset_env.any():
        # What beat_track would estimate itself, from a chunked tempogram (bounded memory).
        tempo_tg = _mean_tempogram(onset_env, TEMPO_WIN)[:, None]
        # librosa ≥ 0.10 returns a 1-element array; float() on it raises with numpy ≥ 2.4.
        bpm = np.asarray(librosa.feature.tempo(tg=tempo_tg, sr=sr, hop_length=hop)).item()
        _, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr, hop_length=hop, bpm=bpm)
    else:
        bpm, beats = 0.0, np.zeros(0, int)
    beats = np.asarray(beats, dtype=int)
    fallback = len(beats) < MIN_BEATS
    if not fallback:
        bpm = beat_bpm(beats)
    bounds = (
        librosa.time_to_frames(np.arange(0.0, duration + 1e-9, GRID_SECONDS), sr=sr, hop_length=hop)
        if fallback
        else beats
    )

    # librosa.feature.spectral_contrast's dB step, with its 80 dB floor set by this stretch.
    contrast = librosa.power_to_db(frames.contrast_peak) - librosa.power_to_db(
        frames.contrast_valley
    )
    per_beat = {
        name: _interval_means(values, bounds)
        for name, values in (
            ("onset", onset_env[None]),
            ("mfcc", mfcc),
            ("delta", mfcc_delta),
            ("contrast", contrast),
            ("rolloff", frames.rolloff[None]),
            ("centroid", frames.centroid[None]),
            ("bandwidth", frames.bandwidth[None]),
            ("zcr", frames.zcr[None]),
            ("chroma", frames.chroma),
            ("tonnetz", frames.tonnetz),
        )
    }

    def median(name: str) -> np.ndarray:
        return np.asarray(np.percentile(per_beat[name], 50, axis=1))

    def iqr(name: str) -> np.ndarray:
        p25, p75 = np.percentile(per_beat[name], [25, 75], axis=1)
        return np.asarray(p75 - p25)

    rhythm = _rhythm_dims(
        onset_env, per_beat["onset"][0], beats, fallback, tempo_acf, duration, bpm
    )
    timbre = [median("mfcc"), iqr("mfcc"), median("delta"), median("contrast"), iqr("contrast")]
    for name in ("rolloff", "centroid", "bandwidth", "onset"):  # "onset" = the flux dims
        timbre += [median(name), iqr(name)]
    timbre.append(median("zcr"))
    mean_chroma = frames.chroma.mean(axis=1, dtype=np.float64)
    harmony = [
        median("chroma"),
        iqr("chroma"),
        [_entropy(mean_chroma)],
        [np.sum(mean_chroma > mean_chroma.mean() + mean_chroma.std())],
        [mean_chroma.max() / mean_chroma.mean() if mean_chroma.mean() > 0 else 0.0],
        median("tonnetz"),
    ]
    vector = np.concatenate(
        [np.ravel(np.asarray(p, dtype=np.float64)) for p in (*timbre, *harmony)]
    )
    vector = np.concatenate([rhythm, vector]).astype(np.float32)
    if vector.shape != (N_FEATURES,):
        raise ValueError(f"beat3tower vector has {vector.shape} dims, expected {N_FEATURES}")

    half, double = _tempo_octave_hints(beats, bpm, fallback)
    return _BeatSummary(
        vector=vector,
        n_beats=len(beats),
        fallback=fallback,
        bpm=bpm,
        tempo_stability=float(rhythm[20]),
        half_tempo_likely=half,
        double_tempo_likely=double,
    )


def _rhythm_dims(
    onset_env: np.ndarray,
    onset_per_beat: np.ndarray,
    beats: np.ndarray,
    fallback: bool,
    tempo_acf: np.ndarray,
    duration: float,
    bpm: float,
) -> np.ndarray:
    """Rhythm tower (21,) in layout order."""
    import librosa

    p10, p25, p50, p75, p90 = np.percentile(onset_per_beat, [10, 25, 50, 75, 90])
    peak1, peak2, ratio = _tempo_peaks(tempo_acf)
    interval_cv = interval_median = strength_median = strength_iqr = stability = 0.0
    if not fallback:
        intervals = np.diff(beats) * HOP_LENGTH / SAMPLE_RATE
        interval_cv = float(np.std(intervals) / np.mean(intervals))
        interval_median = float(np.median(intervals))
        s25, s50, s75 = np.percentile(onset_env[beats], [25, 50, 75])
        strength_median, strength_iqr = float(s50), float(s75 - s25)
        stability = float(np.clip(1.0 - interval_cv, 0.0, 1.0))
    n_onsets = len(
        librosa.onset.onset_detect(onset_envelope=onset_env, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
    )
    return np.array(
        [
            p50,
            p75 - p25,
            np.std(onset_per_beat),
            p10,
            p90,
            peak1,
            peak2,
            ratio,
            *tempo_acf[1:6],
            interval_cv,
            interval_median,
            strength_median,
            strength_iqr,
            n_onsets / duration,
            _entropy(onset_per_beat),
            bpm,
            stability,
        ],
        dtype=np.float64,
    )


def beat_bpm(beats: np.ndarray) -> float:
    """Tempo (BPM) from tracked beat frames: 60 / mean of the typical inter-beat intervals.

    The tracker's own estimate sits on a lag grid (up to ~2.5 % off at 140 BPM); averaging
    intervals within ±25 % of the median (so skipped or doubled beats don't bias it) is finer.
    """
    intervals = np.diff(beats).astype(np.float64)
    median = np.median(intervals)
    typical = intervals[np.abs(intervals - median) <= 0.25 * median]
    return float(60.0 * SAMPLE_RATE / (HOP_LENGTH * np.mean(typical)))


def _tempo_peaks(acf: np.ndarray) -> tuple[int, int, float]:
    """Lags of the two largest local maxima at lag ≥ 5 and their height ratio (layout rules)."""
    import librosa

    lags = np.flatnonzero(librosa.util.localmax(acf))
    lags = lags[lags >= 5]
    if len(lags) == 0:
        return 5 + int(np.argmax(acf[5:])), 0, 1.0
    ranked = lags[np.argsort(acf[lags], kind="stable")[::-1]]
    if len(ranked) == 1 or acf[ranked[1]] <= 0:
        return int(ranked[0]), int(ranked[1]) if len(ranked) > 1 else 0, 1.0
    return int(ranked[0]), int(ranked[1]), float(acf[ranked[0]] / acf[ranked[1]])


def _tempo_octave_hints(beats: np.ndarray, bpm: float, fallback: bool) -> tuple[bool, bool]:
    """Half/double tempo likely: > 25 % of per-interval BPMs within ±15 BPM of bpm/2 or 2·bpm."""
    if fallback or bpm <= 0:
        return False, False
    interval_bpm = 60.0 / (np.diff(beats) * HOP_LENGTH / SAMPLE_RATE)
    half = float(np.mean(np.abs(interval_bpm - bpm / 2) <= 15.0)) > 0.25
    double = float(np.mean(np.abs(interval_bpm - bpm * 2) <= 15.0)) > 0.25
    return half, double


def _interval_means(rows: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Means of `rows` (k, n) over frames [bounds[i], bounds[i+1]) → (k, m).

    Intervals ending past the signal are dropped; with none left, the whole-signal mean (k, 1).
    """
    n = rows.shape[1]
    bounds = np.asarray(bounds, dtype=int)
    bounds = bounds[bounds <= n]
    starts, stops = bounds[:-1], bounds[1:]
    keep = stops > starts
    starts, stops = starts[keep], stops[keep]
    if len(starts) == 0:
        whole: np.ndarray = rows.mean(axis=1, keepdims=True, dtype=np.float64)
        return whole
    cumulative = np.zeros((rows.shape[0], n + 1), np.float64)
    np.cumsum(rows, axis=1, dtype=np.float64, out=cumulative[:, 1:])
    result: np.ndarray = (cumulative[:, stops] - cumulative[:, starts]) / (stops - starts)
    return result


def _mean_tempogram(onset_env: np.ndarray, win_length: int) -> np.ndarray:
    """librosa.feature.tempogram(onset_envelope, win_length).mean(axis=1), faster and chunked.

    Same math as librosa (linear-ramp centring, Hann window, autocorrelation, per-frame max
    normalisation), rearranged: a frame's autocorrelation is the inverse FFT of its power
    spectrum and peaks at lag 0 with the frame's energy, so the mean of the normalised
    autocorrelations is one inverse FFT of the mean of power spectra / energies: one forward
    FFT per frame (float32, contiguous rows, a fast length) instead of librosa's strided
    odd-length float64 pair. Averaging keeps float32 rounding far below the tolerances.
    """
    import scipy.fft
    import scipy.signal

    n = len(onset_env)
    padded = np.pad(
        onset_env.astype(np.float32), win_length // 2, mode="linear_ramp", end_values=(0, 0)
    )
    window = scipy.signal.get_window("hann", win_length, fftbins=True).astype(np.float32)
    n_fft = scipy.fft.next_fast_len(2 * win_length - 1, real=True)
    total = np.zeros(n_fft // 2 + 1, np.float64)
    # Windowed frames are written straight into a zero-padded FFT buffer (no windowed
    # temporary, no padding copy inside the FFT); the tail past win_length stays zero.
    buffer = np.zeros((min(TEMPOGRAM_CHUNK_FRAMES, n), n_fft), np.float32)
    for first in range(0, n, TEMPOGRAM_CHUNK_FRAMES):
        last = min(first + TEMPOGRAM_CHUNK_FRAMES, n)
        frames = np.lib.stride_tricks.sliding_window_view(
            padded[first : last - 1 + win_length], win_length
        )
        rows = buffer[: last - first]
        windowed = np.multiply(frames, window, out=rows[:, :win_length])
        # Lag 0 = the frame's energy; silent frames stay zero, as in librosa.
        energy = np.einsum("ij,ij->i", windowed, windowed, dtype=np.float64)
        spectrum = scipy.fft.rfft(rows, axis=1)  # (frames, bins) complex64
        # |X|² as squares of the interleaved real/imaginary parts, in place; a float32
        # matrix-vector product sums them over frames (pairs added after).
        power = spectrum.view(np.float32)
        np.square(power, out=power)
        weight = np.where(energy > np.finfo(np.float32).tiny, 1.0 / np.maximum(energy, 1e-300), 0.0)
        pairs = weight.astype(np.float32) @ power
        total += pairs[0::2]
        total += pairs[1::2]
    mean: np.ndarray = scipy.fft.irfft(total, n=n_fft)[:win_length] / n
    return mean


def _entropy(values: Any) -> float:
    """Shannon entropy (nats) of non-negative `values` normalised to sum 1; 0 for all-zero."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, None)
    total = v.sum()
    if total <= 0:
        return 0.0
    p = v[v > 0] / total
    return float(-np.sum(p * np.log(p)))

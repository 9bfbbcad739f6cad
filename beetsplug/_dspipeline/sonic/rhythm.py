"""Tempo, beats, onsets and deltas of frame-level features, in plain numpy.

The rhythm steps of the beat3tower layout as librosa 0.11 computes them: feature.tempo's prior
over a mean tempogram, beat.beat_track (Ellis 2007 dynamic programming), onset.onset_detect,
util.localmax, time_to_frames and feature.delta. tests/test_sonic_rhythm.py holds them to
librosa as the oracle (the same beat frames, tempo and onset count). Having them here keeps
librosa.beat's numba/llvmlite and scipy.stats/scipy.signal out of analysis processes, whose
start-up they dominated (docs/benchmarks-sonic.md).

Where librosa's compiled kernels sum in a given order, or round or compare in float32, these
functions do the same, so that near-ties (between beat candidates, at a peak threshold) resolve
as librosa resolves them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .layout import HOP_LENGTH, SAMPLE_RATE

__all__ = [
    "delta",
    "detect_onsets",
    "estimate_tempo",
    "localmax",
    "peak_pick",
    "time_to_frames",
    "track_beats",
]

TIGHTNESS = 100.0  # librosa's default: how strongly beat spacing is held to the period
START_BPM = 120.0  # centre of the tempo prior
MAX_BPM = 320.0  # tempo prior: faster lags are excluded
BACKLINK_VALUES = 1 << 18  # candidate values per step of the predecessor search (2 MB)


def localmax(x: np.ndarray) -> np.ndarray:
    """Local maxima of x (n,) → bool (n,): x[i] > x[i-1] and x[i] >= x[i+1].

    As librosa.util.localmax: element 0 is never a maximum; the last one is when it exceeds
    its left neighbour.
    """
    x = np.asarray(x)
    peaks = np.zeros(x.shape, dtype=bool)
    if len(x) >= 2:
        peaks[1:-1] = (x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])
        peaks[-1] = x[-1] > x[-2]
    return peaks


def time_to_frames(
    times: float | Sequence[float] | np.ndarray, sr: int = SAMPLE_RATE, hop: int = HOP_LENGTH
) -> np.ndarray:
    """Frame index (int) of each time in seconds: the sample index, truncated, floor-divided by
    the hop (librosa.time_to_frames without n_fft)."""
    samples = (np.asarray(times, dtype=np.float64) * sr).astype(int)
    frames: np.ndarray = samples // hop
    return frames


def estimate_tempo(
    mean_tempogram: np.ndarray, sr: int = SAMPLE_RATE, hop: int = HOP_LENGTH
) -> float:
    """Global tempo (BPM) from a time-averaged autocorrelation tempogram (win,) over lags
    0..win-1 frames: librosa.feature.tempo(tg=...) with its defaults.

    Each lag's autocorrelation, compressed by log1p(1e6·acf), is weighted by a log-normal prior
    (one octave standard deviation around 120 BPM); lags faster than 320 BPM are excluded; the
    best lag's BPM is returned.
    """
    acf = np.asarray(mean_tempogram)
    bpms = np.empty(len(acf))
    bpms[0] = np.inf  # lag 0
    bpms[1:] = 60.0 * sr / (hop * np.arange(1.0, len(acf)))
    with np.errstate(invalid="ignore", divide="ignore"):
        log_prior = -0.5 * (np.log2(bpms) - np.log2(START_BPM)) ** 2
        log_prior[: int(np.argmax(bpms < MAX_BPM))] = -np.inf
        # log1p of a negative autocorrelation is NaN, which argmax picks, as in librosa; a
        # non-negative onset envelope has none.
        best = int(np.argmax(np.log1p(1e6 * acf) + log_prior))
    return float(bpms[best])


def track_beats(
    onset_env: np.ndarray,
    bpm: float,
    sr: int = SAMPLE_RATE,
    hop: int = HOP_LENGTH,
) -> np.ndarray:
    """Beat frames (k,) int64 of an onset envelope (n,) at a given tempo (BPM):
    librosa.beat.beat_track(onset_envelope=..., bpm=...) with sparse frame output.

    Ellis (2007): the envelope scaled by its standard deviation is smoothed by a Gaussian one
    beat period wide (the local score); a dynamic program links every frame to the best earlier
    beat 0.5-2 periods back, penalising log-deviation from the period; the beats are the
    backtracked chain from the last strong local maximum of the cumulative score, without the
    weak leading and trailing ones. An all-zero envelope has no beats.
    """
    env = np.asarray(onset_env)
    if env.ndim != 1:
        raise ValueError(f"onset envelope must be 1-d, got shape {env.shape}")
    if not env.any():
        return np.zeros(0, dtype=np.int64)
    if not bpm > 0:
        raise ValueError(f"bpm={bpm} must be strictly positive")
    period = round(sr / hop * 60.0 / bpm)  # frames per beat (round half to even, as np.round)
    if period < 1:
        raise ValueError(f"bpm={bpm} is shorter than one frame at hop {hop}")

    # Scaled in the envelope's dtype; everything after it is float64 (librosa's float64
    # period selects its kernels' float64 versions).
    floating = np.issubdtype(env.dtype, np.floating)
    tiny = np.finfo(env.dtype if floating else np.float32).tiny  # librosa's util.tiny
    normalised = (env / (env.std(ddof=1) + tiny)).astype(np.float64)
    score = _local_score(normalised, period)
    cumulative, backlink = _beat_dp(score, period, TIGHTNESS)

    beats = [_last_beat(cumulative)]
    while backlink[beats[-1]] >= 0:
        beats.append(int(backlink[beats[-1]]))
    frames = np.array(beats[::-1], dtype=np.int64)
    return _trim(score, frames)


def _local_score(env: np.ndarray, period: int) -> np.ndarray:
    """The envelope (n,) float64 convolved with a Gaussian window of 2·period + 1 frames
    (σ = period/32 frames), 'same' size.

    Summed as librosa's kernel sums, so the result is bit-identical: each output adds its terms
    from the latest input frame backwards, and frame 0 never contributes.
    """
    n = len(env)
    # Window values as the compiled kernel gets them: squares as products (libm's pow(x, 2) may
    # differ in the last bit), libm's exp (numpy's SIMD exp may too).
    scaled = [k * 32.0 / period for k in range(-period, period + 1)]
    window = [math.exp(-0.5 * (t * t)) for t in scaled]
    score = np.zeros(n)
    term = np.empty(n)
    for k, weight in enumerate(window):
        shift = period - k  # output frame i takes input frame i + shift
        lo, hi = max(0, 1 - shift), min(n, n - shift)
        if hi <= lo:
            continue
        out = term[: hi - lo]
        np.multiply(env[lo + shift : hi + shift], weight, out=out)
        score[lo:hi] += out
    return score


def _beat_dp(score: np.ndarray, period: int, tightness: float) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative score (n,) float64 and each frame's best predecessor (n,) int (-1: none).

    Frame i's candidates lie d = round(period/2) .. 2·period frames back; a candidate's value is
    its cumulative score minus tightness·(log d - log period)². All candidates of frames
    [i, i + d_min) lie before i, so a block of d_min frames is computed at once (~5 µs per
    block); the predecessors are found afterwards, for all frames together.
    """
    n = len(score)
    shortest = max(round(period / 2), 1)  # a 0-frame step scores -inf: never chosen
    longest = 2 * period
    tight = float(np.float32(tightness))  # the kernel's tightness argument is float32
    # libm's log (math.log) and squares as products, as in the compiled kernel (numpy's SIMD
    # log and libm's pow may differ in the last bit).
    log_period = math.log(period)
    deviation = [math.log(d) - log_period for d in range(shortest, longest + 1)]
    penalty = np.array([tight * (x * x) for x in deviation])

    # Frame i's candidates are window i of the padded array, padded[i] (2·period back) to
    # padded[i + longest - shortest] (the nearest); the -inf padding stands for frames before 0.
    padded = np.full(longest + n, -np.inf)
    cumulative = padded[longest:]
    windows = np.lib.stride_tricks.sliding_window_view(padded, len(penalty))
    farthest_first = penalty[::-1].copy()
    head = min(shortest, n)
    cumulative[:head] = score[:head]  # no predecessor yet
    for start in range(shortest, n, shortest):
        stop = min(start + shortest, n)
        best = (windows[start:stop] - farthest_first).max(axis=1)
        np.add(score[start:stop], best, out=cumulative[start:stop])

    # Each frame's predecessor: the nearest of the best candidates, as the kernel's strict '>'
    # scanning from the nearest keeps it (argmax keeps the first: scan nearest first).
    backlink = np.full(n, -1, dtype=np.intp)
    chunk = max(1, BACKLINK_VALUES // len(penalty))
    for first in range(head, n, chunk):
        last = min(first + chunk, n)
        nearest = np.argmax(windows[first:last, ::-1] - penalty, axis=1)
        backlink[first:last] = np.arange(first, last) - shortest - nearest
    # Until the first frame whose score reaches 1 % of the maximum, frames start chains.
    strong = np.flatnonzero(score >= 0.01 * score.max())
    backlink[: strong[0] if len(strong) else n] = -1
    return cumulative, backlink


def _last_beat(cumulative: np.ndarray) -> int:
    """The last local maximum of the cumulative score reaching half the median of all its
    local maxima (the last frame if there is none)."""
    peaks = localmax(cumulative)
    if not peaks.any():
        return len(cumulative) - 1
    threshold = 0.5 * np.median(cumulative[peaks])
    good = np.flatnonzero(peaks & (cumulative >= threshold))
    return int(good[-1]) if len(good) else len(cumulative) - 1


def _trim(score: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Drop beats in the leading and trailing stretches whose local score stays at or below
    half the RMS of the beats' Hann-smoothed local scores."""
    # librosa keeps the 'full' convolution's two extra trailing values, which lowers the RMS;
    # the mean of squares is summed in order, as the compiled kernel sums it.
    smooth = np.convolve(score[beats], np.hanning(5))[2 : len(score) + 2]
    squares = smooth * smooth
    threshold = 0.5 * (float(np.cumsum(squares)[-1]) / len(squares)) ** 0.5
    above = np.flatnonzero(score > threshold)
    if len(above) == 0:  # a local score nowhere positive: no beats
        return beats[:0]
    kept: np.ndarray = beats[(beats >= above[0]) & (beats <= above[-1])]
    return kept


def detect_onsets(
    onset_env: np.ndarray, sr: int = SAMPLE_RATE, hop: int = HOP_LENGTH
) -> np.ndarray:
    """Onset frames (k,) int64 of an onset envelope (n,): librosa.onset.onset_detect with its
    defaults — the envelope scaled to [0, 1], then peak_pick with 30 ms max, 100 ms mean
    windows, delta 0.07 and a 30 ms wait."""
    env = np.asarray(onset_env)
    if not np.issubdtype(env.dtype, np.floating):
        env = env.astype(np.float64)
    env = env - env.min()
    env /= env.max() + np.finfo(env.dtype).tiny
    if not env.any() or not np.all(np.isfinite(env)):
        return np.zeros(0, dtype=np.int64)
    # librosa's defaults, in frames: floor(seconds·sr / hop) (+ 1 after the frame).
    return peak_pick(
        env,
        pre_max=math.ceil(0.03 * sr // hop),
        post_max=math.ceil(0.00 * sr // hop + 1),
        pre_avg=math.ceil(0.10 * sr // hop),
        post_avg=math.ceil(0.10 * sr // hop + 1),
        delta=0.07,
        wait=math.ceil(0.03 * sr // hop),
    )


def peak_pick(
    x: np.ndarray,
    pre_max: int,
    post_max: int,
    pre_avg: int,
    post_avg: int,
    delta: float,
    wait: int,
) -> np.ndarray:
    """Peak frames (k,) int64 of x (n,), as librosa.util.peak_pick: frame i is a peak when
    x[i] = max(x[i - pre_max : i + post_max]) and x[i] >= mean(x[i - pre_avg : i + post_avg])
    + delta (windows cut at the ends), and no peak was taken in the `wait` frames before it.
    """
    if min(pre_max, pre_avg, wait) < 0 or min(post_max, post_avg) <= 0 or delta < 0:
        raise ValueError("peak_pick: windows and wait must be >= 0 (post windows > 0), delta >= 0")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):  # the compiled kernel averages integers in float64
        x = x.astype(np.float64)
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    padded = np.concatenate([np.full(pre_max, -np.inf), x, np.full(post_max - 1, -np.inf)])
    window_max = np.lib.stride_tricks.sliding_window_view(padded, pre_max + post_max).max(axis=1)
    candidate = x == window_max

    # The mean as the compiled kernel takes it: summed left to right in x's dtype, divided in
    # float64, rounded to x's dtype; delta is a float32 argument.
    dtype = x.dtype.type
    total = np.zeros(n, dtype=x.dtype)
    count = np.zeros(n, dtype=np.int64)
    for offset in range(-pre_avg, post_avg):
        lo, hi = max(0, -offset), min(n, n - offset)
        if hi > lo:
            total[lo:hi] += x[lo + offset : hi + offset]
            count[lo:hi] += 1
    mean = (total.astype(np.float64) / count).astype(x.dtype)
    candidate &= x >= mean + dtype(np.float32(delta))

    peaks: list[int] = []
    for frame in np.flatnonzero(candidate).tolist():
        if not peaks or frame > peaks[-1] + wait:
            peaks.append(frame)
    return np.array(peaks, dtype=np.int64)


def delta(data: np.ndarray, width: int = 9) -> np.ndarray:
    """First-order deltas of data (..., n) along frames → (..., n) float32 (float64 for float64
    data): librosa.feature.delta(data, width), a Savitzky-Golay derivative of order 1 with mode
    'interp', within float rounding (librosa's coefficients come from a least-squares solve).

    For a first-order fit the derivative is the least-squares slope over `width` frames centred
    on each frame; the first and last width // 2 frames take the slope of the first and last
    full window, as 'interp' fits one line to each end window.
    """
    data = np.asarray(data)
    n = data.shape[-1]
    if width < 3 or width % 2 != 1:
        raise ValueError(f"delta width must be an odd integer >= 3, got {width}")
    if width > n:
        raise ValueError(f"delta width {width} exceeds the {n} frames")
    half = width // 2
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    slope_weights = offsets / np.sum(offsets * offsets)
    rows = data.reshape(-1, n)
    result = np.empty(rows.shape, dtype=np.result_type(data.dtype, np.float32))
    for row, out in zip(rows, result, strict=True):
        # float64 sums, as scipy's filter; one C loop per row (~0.07 ms for 25,000 frames).
        slope = np.correlate(row.astype(np.float64), slope_weights, mode="valid")
        out[half : n - half] = slope
        out[:half] = slope[0]
        out[n - half :] = slope[-1]
    return result.reshape(data.shape)

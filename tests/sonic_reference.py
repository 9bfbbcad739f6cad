"""Straightforward reference extractor of the beat3tower layout, for tests and benchmarks.

One librosa call per feature on the decoded signal, each recomputing whatever it needs (STFTs,
constant-Q chroma, onset envelope); segments are re-extracted from the sliced audio. Slow on
purpose: it is the yardstick the fast path in beetsplug._dspipeline.sonic.extract is held to.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import librosa
import numpy as np

SR = 22050
HOP = 512


@dataclass(frozen=True)
class ReferenceResult:
    full: np.ndarray  # (137,)
    start: np.ndarray
    mid: np.ndarray
    end: np.ndarray
    n_beats: int
    fallback: bool
    bpm: float


def reference_file(path: str) -> ReferenceResult:
    """Load with librosa (22050 Hz mono) and extract the layout the plain way."""
    y, _ = librosa.load(path, sr=SR, mono=True)
    return reference_signal(y)


def reference_signal(y: np.ndarray) -> ReferenceResult:
    """Full vector plus start/mid/end segments, each re-extracted from its own audio."""
    full, n_beats, bpm = reference_vector(y)
    duration = len(y) / SR
    if duration <= 60.0:
        return ReferenceResult(full, full, full, full, n_beats, n_beats < 4, bpm)
    seg = int(30.0 * SR)
    mid_start = round(max(0.0, duration / 2 - 15.0) * SR)
    segments = []
    for start in (0, mid_start, len(y) - seg):
        # Layout rule (ours): segment starts snap to the 512-sample frame grid.
        first = min(round(start / HOP), (len(y) - seg) // HOP) * HOP
        vector, seg_beats, _ = reference_vector(y[first : first + seg])
        segments.append(full if seg_beats < 4 else vector)
    return ReferenceResult(full, *segments, n_beats=n_beats, fallback=n_beats < 4, bpm=bpm)


def _interval_means(feature: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(k, n) feature → (k, m): mean over each [b_i, b_{i+1}) inside the signal."""
    n = feature.shape[1]
    columns = [feature[:, a:b].mean(axis=1) for a, b in itertools.pairwise(bounds) if n >= b > a]
    if not columns:
        return feature.mean(axis=1, keepdims=True)
    return np.stack(columns, axis=1)


def _median(m: np.ndarray) -> np.ndarray:
    return np.percentile(m, 50, axis=1)


def _iqr(m: np.ndarray) -> np.ndarray:
    return np.percentile(m, 75, axis=1) - np.percentile(m, 25, axis=1)


def _entropy(v: np.ndarray) -> float:
    v = np.clip(np.asarray(v, dtype=np.float64), 0, None)
    if v.sum() <= 0:
        return 0.0
    p = v / v.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def reference_vector(y: np.ndarray) -> tuple[np.ndarray, int, float]:
    """The 137-d vector of signal `y`, its beat count and BPM."""
    duration = len(y) / SR
    onset_env = librosa.onset.onset_strength(y=y, sr=SR, hop_length=HOP)
    tempo, beats = librosa.beat.beat_track(onset_envelope=onset_env, sr=SR, hop_length=HOP)
    bpm = float(np.asarray(tempo).item())
    beats = np.asarray(beats, dtype=int)
    fallback = len(beats) < 4
    if not fallback:
        # Layout rule (ours): BPM refined from the typical beat intervals.
        frame_intervals = np.diff(beats)
        med = np.median(frame_intervals)
        typical = frame_intervals[np.abs(frame_intervals - med) <= 0.25 * med]
        bpm = 60.0 * SR / (HOP * float(np.mean(typical)))
    if fallback:
        grid_times = np.arange(0.0, duration + 1e-9, 0.5)
        bounds = librosa.time_to_frames(grid_times, sr=SR, hop_length=HOP)
    else:
        bounds = beats

    # Rhythm
    onset_beats = _interval_means(onset_env[None, :], bounds)[0]
    tg = librosa.feature.tempogram(onset_envelope=onset_env, sr=SR, hop_length=HOP)
    acf = tg.mean(axis=1)
    peaks = [i for i in np.flatnonzero(librosa.util.localmax(acf)) if i >= 5]
    peaks.sort(key=lambda i: -acf[i])
    if not peaks:
        peak1, peak2, ratio = 5 + int(np.argmax(acf[5:])), 0, 1.0
    elif len(peaks) == 1 or acf[peaks[1]] <= 0:
        peak1, peak2, ratio = peaks[0], (peaks[1] if len(peaks) > 1 else 0), 1.0
    else:
        peak1, peak2, ratio = peaks[0], peaks[1], acf[peaks[0]] / acf[peaks[1]]
    if fallback:
        cv = interval_median = strength_median = strength_iqr = stability = 0.0
    else:
        intervals = np.diff(librosa.frames_to_time(beats, sr=SR, hop_length=HOP))
        cv = np.std(intervals) / np.mean(intervals)
        interval_median = np.median(intervals)
        strength = onset_env[beats]
        strength_median = np.median(strength)
        strength_iqr = np.percentile(strength, 75) - np.percentile(strength, 25)
        stability = float(np.clip(1 - cv, 0, 1))
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=SR, hop_length=HOP)
    rhythm = [
        np.median(onset_beats),
        np.percentile(onset_beats, 75) - np.percentile(onset_beats, 25),
        np.std(onset_beats),
        np.percentile(onset_beats, 10),
        np.percentile(onset_beats, 90),
        peak1,
        peak2,
        ratio,
        *acf[1:6],
        cv,
        interval_median,
        strength_median,
        strength_iqr,
        len(onsets) / duration,
        _entropy(onset_beats),
        bpm,
        stability,
    ]

    # Timbre
    mfcc = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20, n_fft=2048, hop_length=HOP)
    mfcc_beats = _interval_means(mfcc, bounds)
    delta_beats = _interval_means(librosa.feature.delta(mfcc), bounds)
    contrast = _interval_means(
        librosa.feature.spectral_contrast(y=y, sr=SR, n_fft=2048, hop_length=HOP), bounds
    )
    timbre = [*_median(mfcc_beats), *_iqr(mfcc_beats), *_median(delta_beats)]
    timbre += [*_median(contrast), *_iqr(contrast)]
    for fn in (
        librosa.feature.spectral_rolloff,
        librosa.feature.spectral_centroid,
        librosa.feature.spectral_bandwidth,
    ):
        per_beat = _interval_means(fn(y=y, sr=SR, n_fft=2048, hop_length=HOP), bounds)
        timbre += [_median(per_beat)[0], _iqr(per_beat)[0]]
    timbre += [_median(onset_beats[None])[0], _iqr(onset_beats[None])[0]]
    zcr = librosa.feature.zero_crossing_rate(y, hop_length=HOP)
    timbre += [_median(_interval_means(zcr, bounds))[0]]

    # Harmony
    chroma = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=HOP)
    chroma_beats = _interval_means(chroma, bounds)
    mean_chroma = chroma.mean(axis=1)
    tonnetz = librosa.feature.tonnetz(y=y, sr=SR)
    harmony = [*_median(chroma_beats), *_iqr(chroma_beats), _entropy(mean_chroma)]
    harmony += [int(np.sum(mean_chroma > mean_chroma.mean() + mean_chroma.std()))]
    harmony += [mean_chroma.max() / mean_chroma.mean() if mean_chroma.mean() > 0 else 0.0]
    harmony += [*_median(_interval_means(tonnetz, bounds))]

    vector = np.array(rhythm + timbre + harmony, dtype=np.float64)
    assert vector.shape == (137,), vector.shape
    return vector, len(beats), bpm

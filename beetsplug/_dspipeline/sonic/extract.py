"""Fast beat3tower extraction: every expensive transform is computed once per track, in chunks.

One decode, one STFT magnitude (mel → MFCC and onset envelope, contrast, spectral shape, zero
crossings, tuning), one constant-Q chroma (also the tonnetz input). Segments are frame slices
of the full track's features; only cheap steps (log-mel, onset envelope, beats, tempogram, and
the few STFT frames at a cut) are redone per segment. docs/sonic-features.md has the layout,
the shortcuts and how close they stay to plain librosa calls.

Memory stays bounded: the decoder's blocks feed the STFT and CQT chunk by chunk as they
arrive (_Stream), so neither the whole signal nor a whole-track spectrogram ever exists; what
stays resident is a sliding window of samples, a 128-band mel spectrogram in dB (float32) and
a few small frame-level features (float32 or uint16 fixed point).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import filterbanks, rhythm
from .decode import AnalysisError, AudioPath, BlockDecoder
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
    "segment_features",
    "spectral_shape",
    "warm_up",
]

MIN_SECONDS = 1.0  # shorter signals carry no usable rhythm or timbre statistics
SILENCE_PEAK = 1e-4  # peak amplitude below -80 dBFS counts as silence
STFT_CHUNK_FRAMES = 512  # ~12 s per STFT chunk: its arrays (2 MB each) stay cache-friendly
CQT_CHUNK_FRAMES = 2048  # ~48 s per CQT chunk: its buffers peak at ~19 MiB (4096: ~36 MiB)
# Context on each side of a CQT chunk; covers the longest (C1) filter and resampler ringing:
# chunked chroma stays within 1e-6 of one pass at 80 frames (64: 1.5e-5, 48: 5e-4).
CQT_MARGIN_FRAMES = 80
N_MELS = 128  # librosa's mel bands (n_fft 2048)
SUMMARY_CHUNK_FRAMES = 4096  # frames per step of the onset envelope and the MFCC DCT
SIGNAL_BLOCK = 1 << 15  # samples per block when an in-memory signal goes through the stream
# Samples the stream keeps at its end: the end segment's frames at both of its cuts.
TAIL_SAMPLES = int(SEGMENT_SECONDS * SAMPLE_RATE) + HOP_LENGTH + N_FFT
# Slack kept around the mid segment's cuts predicted from the declared length; a file whose
# decoded length moves the cut further (VBR MP3 without a header) is decoded a second time.
MID_SLACK = 5 * SAMPLE_RATE
TEMPOGRAM_CHUNK_FRAMES = 512  # ~5 MB of FFT buffers per chunk
# Frames at each segment end recomputed with the segment's own padding (STFT window reach: 2).
SEGMENT_EDGE_FRAMES = 4
TEMPOGRAM_WIN = 384  # librosa's default tempogram window (frames)
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


@dataclass
class FrameFeatures:
    """Frame-level features at hop 512 of a 22050 Hz signal; every array ends in n frames.

    dB values carry no floor yet: librosa's top_db floor is relative to the maximum of the
    stretch analysed (track or segment), which summarise() applies.
    """

    # The mel power spectrogram in dB (10·log10) as two arrays, bands 0-19 and 20-127: the MFCCs
    # are written over the first, so the summary frees the second instead of allocating them.
    mel_db_low: np.ndarray  # (20, n)
    mel_db_high: np.ndarray  # (108, n)
    # (7, n) spectral-contrast band peaks and valleys, 10·log10 as librosa, in uint16 fixed
    # point (_fixed_db: within 0.002 dB); contrast = peak_db - valley_db.
    contrast_peak_db: np.ndarray
    contrast_valley_db: np.ndarray
    rolloff: np.ndarray  # (n,) Hz
    centroid: np.ndarray  # (n,) Hz
    bandwidth: np.ndarray  # (n,) Hz
    zcr: np.ndarray  # (n,) zero-crossing rate
    # (12, n) constant-Q chroma, max-normalised per frame, as uint16 fixed point of [0, 1]
    # (CHROMA_STEPS; within 8e-6): half the bytes of float32 for an hour's 160,000 frames.
    chroma: np.ndarray
    n_samples: int  # signal length the frames cover


_Refetch = Callable[[list[tuple[int, int]]], list[np.ndarray]]


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
    """Decode `path` once, block by block, into its beat3tower vectors; raises AnalysisError.

    The whole signal never exists in memory: frame features are computed from the decoder's
    blocks as they arrive (see _Stream).
    """
    name = os.fsdecode(path)
    with BlockDecoder(path) as decoder:
        with _internal_errors(name):
            warm_up()  # first: _one_blas_thread limits the BLAS libraries loaded by then
        with _one_blas_thread():
            refetch = functools.partial(_refetch, path)
            stream = _Stream(name, decoder.expected_samples(), refetch)
            for block in decoder.blocks():
                stream.feed(block)
            features = stream.finish(decoder.source_sample_rate, decoder.duration)
    return dataclasses.replace(features, audio_hash=decoder.audio_hash)


def _refetch(path: AudioPath, ranges: list[tuple[int, int]]) -> list[np.ndarray]:
    """Samples [lo, hi) of the decoded signal for each range, by decoding `path` again (only up
    to the last range). For the rare file whose declared length was wrong or missing."""
    kept = [_Kept(lo, hi) for lo, hi in ranges]
    stop = max(hi for _, hi in ranges)
    offset = 0
    with BlockDecoder(path) as decoder:
        for block in decoder.blocks():
            for piece in kept:
                piece.take(offset, block)
            offset += len(block)
            if offset >= stop:
                break
    return [piece.data for piece in kept]


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
    with _internal_errors("signal"):
        warm_up()
    with _one_blas_thread():
        features = _signal_features(y, "signal", sr, duration)
    return dataclasses.replace(features, audio_hash=digest.hexdigest())


@functools.cache
def warm_up() -> None:
    """Build the filter banks and load every module the analysis uses, once per process, on 3 s
    of clicks: worker processes forked afterwards start with all of it (see executor)."""
    rng = np.random.default_rng(0)
    clicks = np.zeros(3 * SAMPLE_RATE, np.float32)
    clicks[:: SAMPLE_RATE // 2] = 1.0
    noisy = clicks + 0.01 * rng.standard_normal(len(clicks)).astype(np.float32)
    _signal_features(noisy, "warm-up", SAMPLE_RATE, 3.0)


@contextlib.contextmanager
def _internal_errors(name: str) -> Iterator[None]:
    """Callers get one exception type, whatever the analysis raises: AnalysisError("internal")."""
    try:
        yield
    except AnalysisError:
        raise
    except Exception as exc:
        message = f"{name}: feature extraction failed ({type(exc).__name__}: {exc})"
        raise AnalysisError("internal", message) from exc


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """Single-threaded BLAS while analysing: parallelism comes from worker processes, and a
    fixed thread count keeps float summation order, hence the vectors, identical whichever
    executor ran them."""
    controller = _threadpools()
    if controller is None:  # a declared dependency; without it, BLAS keeps its own thread count
        return contextlib.nullcontext()
    limits: contextlib.AbstractContextManager[object] = controller.limit(limits=1, user_api="blas")
    return limits


@functools.cache
def _threadpools() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, found once: threadpool_limits()
    looks them up again on every call (~0.4 ms per file)."""
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
    except ImportError:
        return None
    return ThreadpoolController()


def _signal_features(
    y: np.ndarray, name: str, source_sr: int, duration: float, block: int = SIGNAL_BLOCK
) -> TrackFeatures:
    """An in-memory signal through the same block-by-block path as a decoded file."""
    stream = _Stream(name, len(y), lambda ranges: [y[lo:hi] for lo, hi in ranges])
    for start in range(0, len(y), block):
        stream.feed(y[start : start + block])
    return stream.finish(source_sr, duration)


class _Samples:
    """A sliding stretch [base, end) of a mono signal that arrives block by block.

    `view()` gives it as an array whose index 0 is sample `base`, a multiple of HOP_LENGTH: frame
    k of the signal is frame k - base // HOP_LENGTH of the view, so the frame kernels take the
    view as they would take the whole signal. Appending is amortised O(1): the live stretch
    moves to the front of its buffer only when the buffer is full, and the buffer grows only
    when the live stretch fills most of it.
    """

    def __init__(self) -> None:
        # Room for the CQT's chunk and margins (the longest stretch kept) plus blocks.
        self._data = np.empty(
            3 * (CQT_CHUNK_FRAMES + 2 * CQT_MARGIN_FRAMES) * HOP_LENGTH // 2, np.float32
        )
        self._start = 0  # index in _data of sample `base`
        self.base = 0
        self.end = 0

    def append(self, block: np.ndarray) -> None:
        size = self.end - self.base
        if self._start + size + len(block) > len(self._data):
            if 5 * (size + len(block)) > 4 * len(self._data):
                grown = np.empty((size + len(block)) * 3 // 2, np.float32)
                grown[:size] = self._data[self._start : self._start + size]
                self._data = grown
            else:
                # Move left in pieces no longer than the shift: no overlap, no temporary copy.
                for i in range(0, size, self._start):
                    n = min(self._start, size - i)
                    self._data[i : i + n] = self._data[self._start + i : self._start + i + n]
            self._start = 0
        self._data[self._start + size : self._start + size + len(block)] = block
        self.end += len(block)

    def drop_before(self, sample: int) -> None:
        sample = min(sample, self.end) // HOP_LENGTH * HOP_LENGTH
        if sample > self.base:
            self._start += sample - self.base
            self.base = sample

    def view(self) -> np.ndarray:
        return self._data[self._start : self._start + self.end - self.base]

    def get(self, lo: int, hi: int) -> np.ndarray | None:
        """A copy of samples [lo, hi) if they are all held, else None."""
        if lo < self.base or hi > self.end:
            return None
        return self.view()[lo - self.base : hi - self.base].copy()


class _Kept:
    """Samples [lo, hi) of a signal, copied out of its blocks as they pass."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = max(lo, 0), max(hi, 0)
        self.data = np.zeros(self.hi - self.lo, np.float32)

    def take(self, offset: int, block: np.ndarray) -> None:
        a, b = max(self.lo, offset), min(self.hi, offset + len(block))
        if a < b:
            self.data[a - self.lo : b - self.lo] = block[a - offset : b - offset]

    def get(self, lo: int, hi: int, end: int) -> np.ndarray | None:
        if lo < self.lo or hi > min(self.hi, end):
            return None
        return self.data[lo - self.lo : hi - self.lo].copy()


# Rows and type of each frame feature as the stream stores it (dB values without a floor).
_STORED: dict[str, tuple[int, type[np.generic]]] = {
    "mel_db_low": (N_MFCC, np.float32),
    "mel_db_high": (N_MELS - N_MFCC, np.float32),
    "contrast_peak_db": (7, np.uint16),
    "contrast_valley_db": (7, np.uint16),
    "rolloff": (1, np.float32),
    "centroid": (1, np.float32),
    "bandwidth": (1, np.float32),
    "zcr": (1, np.float32),
    "chroma": (12, np.uint16),
}
CHROMA_STEPS = np.iinfo(np.uint16).max
# Fixed-point dB of the contrast peaks and valleys: from -100 dB (power_to_db's amin) in steps
# of 1/256 dB (rounding ≤ 0.002 dB, far below the 80 dB floor's effects) up to 156 dB.
DB_MIN = -100.0
DB_STEPS = 256


class _FrameStore:
    """Frame features filled chunk by chunk into preallocated float32 arrays.

    Sized from the declared length: pages of np.empty that are never written stay unmapped, so
    a generous guess costs nothing; a longer stream grows the arrays (one copy each).
    """

    def __init__(self, capacity: int) -> None:
        self._arrays = {k: np.empty((rows, capacity), kind) for k, (rows, kind) in _STORED.items()}

    def put(self, first: int, values: dict[str, np.ndarray]) -> None:
        for name, value in values.items():
            array = self._arrays[name]
            last = first + value.shape[-1]
            if last > array.shape[1]:
                grown = np.empty((array.shape[0], max(last, array.shape[1] * 3 // 2)), array.dtype)
                grown[:, :first] = array[:, :first]
                self._arrays[name] = array = grown
            array[:, first:last] = value

    def take(self, n_frames: int, n_samples: int) -> FrameFeatures:
        """The first n_frames frames as FrameFeatures; the store lets go of its arrays."""
        arrays, self._arrays = self._arrays, {}
        fields = {
            k: (v[0, :n_frames] if _STORED[k][0] == 1 else v[:, :n_frames])
            for k, v in arrays.items()
        }
        return FrameFeatures(**fields, n_samples=n_samples)


def _stored(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """_stft_frames' features as the store keeps them: power and magnitudes in dB."""
    stored = {k: v for k, v in features.items() if k in _STORED}
    # power_to_db without its top_db floor, which _floor applies per stretch.
    mel_db = filterbanks.power_to_db(features["mel_power"])
    stored["mel_db_low"], stored["mel_db_high"] = mel_db[:N_MFCC], mel_db[N_MFCC:]
    stored["contrast_peak_db"] = _fixed_db(filterbanks.power_to_db(features["contrast_peak"]))
    stored["contrast_valley_db"] = _fixed_db(filterbanks.power_to_db(features["contrast_valley"]))
    return stored


def _fixed_db(db: np.ndarray) -> np.ndarray:
    """dB values (≥ -100, power_to_db's amin) as uint16 fixed point, DB_STEPS per dB."""
    steps = np.rint((db - DB_MIN) * DB_STEPS)
    fixed: np.ndarray = np.clip(steps, 0, np.iinfo(np.uint16).max, out=steps).astype(np.uint16)
    return fixed


def _from_fixed_db(fixed: np.ndarray) -> np.ndarray:
    db: np.ndarray = fixed * np.float32(1 / DB_STEPS)
    db += np.float32(DB_MIN)
    return db


def _floor(db: np.ndarray) -> np.ndarray:
    """librosa.power_to_db's top_db=80 floor, relative to this stretch's maximum, in place."""
    np.maximum(db, db.max() - 80.0, out=db)
    return db


class _Stream:
    """Frame features and beat3tower vectors of a signal fed block by block.

    STFT features run in chunks of STFT_CHUNK_FRAMES as soon as a chunk's samples are in, the
    constant-Q chroma in chunks of CQT_CHUNK_FRAMES once their context margin is in too, and
    samples no later frame needs are dropped. What stays resident: the frame features (float32,
    ~660 bytes per frame: 6.7 MB per 5 minutes), a sliding window of samples (the CQT chunk and
    its margins, at least the last 30 s for the end segment) and the few samples at the start
    and predicted mid segment cuts (see _segment_samples).

    Chroma tuning: the CQT of frames [first, last) uses the tuning pooled from the STFT frames
    [0, last), re-estimated whenever the pooled peaks have doubled: a track that fits one CQT
    chunk gets its whole-track estimate, a longer one the estimate of what came before.
    """

    def __init__(self, name: str, declared: int | None, refetch: _Refetch) -> None:
        self.name = name
        self._refetch = refetch
        self._declared = declared
        capacity = int((declared or SEGMENT_SECONDS * 10 * SAMPLE_RATE) * 1.05) // HOP_LENGTH
        self._store = _FrameStore(capacity + STFT_CHUNK_FRAMES)
        self._samples = _Samples()
        self._stft_done = self._chroma_done = 0
        self._pitch: list[np.ndarray] = []
        self._magnitude: list[np.ndarray] = []
        self._pooled = [0]  # peaks pooled after each STFT chunk
        self._tuning = (0, 0.0)  # (peaks it was estimated from, tuning)
        self._peak = 0.0
        self._finite = True
        seg = int(SEGMENT_SECONDS * SAMPLE_RATE)
        kept = [_Kept(lo, hi) for lo, hi in _edge_ranges(0, seg)]
        if declared and declared / SAMPLE_RATE > SEGMENT_MIN_TRACK_SECONDS:
            mid = _segment_firsts(declared)[1]
            kept += [_Kept(lo - MID_SLACK, hi + MID_SLACK) for lo, hi in _edge_ranges(mid, seg)]
        self._kept = kept

    def feed(self, block: np.ndarray) -> None:
        if not self._finite or len(block) == 0:
            return
        # The peak is NaN or infinite exactly when a sample is: one pass checks both.
        peak = float(np.max(np.abs(block)))
        if not math.isfinite(peak):
            self._finite = False  # reported once the decoder has had its say
            return
        self._peak = max(self._peak, peak)
        for kept in self._kept:
            kept.take(self._samples.end, block)
        self._samples.append(block)
        with _internal_errors(self.name):
            self._advance(None)

    def finish(self, source_sr: int, duration: float) -> TrackFeatures:
        """The track's vectors (audio_hash left empty for the caller); raises AnalysisError."""
        name, n = self.name, self._samples.end
        if not self._finite:
            raise AnalysisError("corrupt", f"{name}: decoded samples contain NaN or infinity")
        if n < MIN_SECONDS * SAMPLE_RATE:
            raise AnalysisError(
                "too_short", f"{name}: {n / SAMPLE_RATE:.2f} s of audio, need {MIN_SECONDS:g} s"
            )
        if self._peak < SILENCE_PEAK:
            raise AnalysisError("silent", f"{name}: silent (peak below -80 dBFS)")
        with _internal_errors(name):
            self._advance(1 + n // HOP_LENGTH)
            full, start, mid, end = self._vectors(n)
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
            audio_hash="",
        )

    def _advance(self, n_frames: int | None) -> None:
        """Compute every chunk whose samples are in; all the rest once n_frames is known."""

        samples = self._samples
        view, offset, end = samples.view(), samples.base // HOP_LENGTH, samples.end
        while n_frames is None or self._stft_done < n_frames:
            first = self._stft_done
            last = first + STFT_CHUNK_FRAMES
            if n_frames is not None:
                last = min(last, n_frames)
            elif (last - 1) * HOP_LENGTH + N_FFT // 2 > end:
                break
            features, mag = _stft_frames(view, first - offset, last - offset)
            self._store.put(first, _stored(features))
            pitch, magnitude = _tuning_peaks(mag[:, ::TUNING_STRIDE])
            del mag
            self._pitch.append(pitch)
            self._magnitude.append(magnitude)
            self._pooled.append(self._pooled[-1] + len(pitch))
            self._stft_done = last
        while n_frames is None or self._chroma_done < n_frames:
            first = self._chroma_done
            last = first + CQT_CHUNK_FRAMES
            if n_frames is not None:
                last = min(last, n_frames)
            elif (last + CQT_MARGIN_FRAMES) * HOP_LENGTH > end:
                break
            tuning = self._tuning_until(last, final=last == n_frames)
            chroma = _chroma_frames(view, tuning, first - offset, last - offset)
            fixed = np.rint(np.clip(chroma, 0.0, 1.0) * CHROMA_STEPS).astype(np.uint16)
            self._store.put(first, {"chroma": fixed})
            self._chroma_done = last
        samples.drop_before(
            min(
                self._stft_done * HOP_LENGTH - N_FFT // 2,
                (self._chroma_done - CQT_MARGIN_FRAMES) * HOP_LENGTH,
                end - TAIL_SAMPLES,
            )
        )

    def _tuning_until(self, last: int, *, final: bool) -> float:
        """Tuning pooled from STFT frames [0, last), re-estimated when the pool has doubled
        since the last estimate and for the final chunk (a whole-track estimate)."""
        chunks = min(-(-last // STFT_CHUNK_FRAMES), len(self._pooled) - 1)
        count = self._pooled[chunks]
        if count >= 2 * self._tuning[0] or (final and count > self._tuning[0]):
            pitch = np.concatenate(self._pitch[:chunks]) if chunks else np.zeros(0)
            magnitude = np.concatenate(self._magnitude[:chunks]) if chunks else np.zeros(0)
            self._tuning = (count, _pooled_tuning(pitch, magnitude))
        return self._tuning[1]

    def _vectors(self, n: int) -> tuple[_BeatSummary, np.ndarray, np.ndarray, np.ndarray]:
        """Full-track summary and the start/mid/end vectors (segment rules of the layout)."""
        frames = self._store.take(1 + n // HOP_LENGTH, n)
        if n / SAMPLE_RATE <= SEGMENT_MIN_TRACK_SECONDS:
            full = summarise(frames)
            return full, full.vector.copy(), full.vector.copy(), full.vector.copy()
        firsts = _segment_firsts(n)
        segments = [
            segment_features(samples, frames, first)
            for first, samples in zip(firsts, self._segment_samples(firsts), strict=True)
        ]
        full = summarise(frames)  # after the segments copied their frames: it consumes them
        vectors = []
        for segment in segments:
            summary = summarise(segment)
            # A segment without enough beats of its own falls back to the full-track vector.
            vectors.append(full.vector.copy() if summary.fallback else summary.vector)
        return full, vectors[0], vectors[1], vectors[2]

    def _segment_samples(self, firsts: tuple[int, ...]) -> list[np.ndarray]:
        """Each segment's samples as segment_features reads them: its edges (head and tail),
        zeros between. From the sliding window (end segment), the kept start and predicted mid
        edges, or, when the declared length was wrong or missing, a second decode."""
        seg = int(SEGMENT_SECONDS * SAMPLE_RATE)
        ranges = [r for first in firsts for r in _edge_ranges(first, seg)]
        pieces = [self._held(lo, hi) for lo, hi in ranges]
        missing = [i for i, piece in enumerate(pieces) if piece is None]
        if missing:
            for i, piece in zip(missing, self._refetch([ranges[i] for i in missing]), strict=True):
                pieces[i] = piece
        out = []
        for k, first in enumerate(firsts):
            segment = np.zeros(seg, np.float32)
            for i in (2 * k, 2 * k + 1):
                lo, hi = ranges[i]
                segment[lo - first * HOP_LENGTH : hi - first * HOP_LENGTH] = pieces[i]
            out.append(segment)
        return out

    def _held(self, lo: int, hi: int) -> np.ndarray | None:
        piece = self._samples.get(lo, hi)
        for kept in self._kept:
            if piece is None:
                piece = kept.get(lo, hi, self._samples.end)
        return piece


def _segment_firsts(n: int) -> tuple[int, int, int]:
    """First frames of the start, mid and end segments of an n-sample signal (layout rules):
    segments start on the frame grid, ≤ 11.6 ms from the nominal time."""
    seg = int(SEGMENT_SECONDS * SAMPLE_RATE)
    mid_start = round(max(0.0, n / SAMPLE_RATE / 2 - SEGMENT_SECONDS / 2) * SAMPLE_RATE)
    start, mid, end = (
        min(round(sample / HOP_LENGTH), (n - seg) // HOP_LENGTH)
        for sample in (0, mid_start, n - seg)
    )
    return start, mid, end


def _edge_ranges(first: int, n_samples: int) -> list[tuple[int, int]]:
    """The samples segment_features reads of the segment starting at frame `first`: the
    windows of its SEGMENT_EDGE_FRAMES first and last frames (absolute [lo, hi) ranges)."""
    count = 1 + n_samples // HOP_LENGTH
    start = first * HOP_LENGTH
    head = (SEGMENT_EDGE_FRAMES - 1) * HOP_LENGTH + N_FFT // 2
    tail = (count - SEGMENT_EDGE_FRAMES) * HOP_LENGTH - N_FFT // 2
    return [(start, start + min(head, n_samples)), (start + max(tail, 0), start + n_samples)]


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
        "mel_power": np.asarray(_mel_basis() @ _c_ordered_square(mag)),
        "contrast_peak": peak,
        "contrast_valley": valley,
        "rolloff": rolloff,
        "centroid": centroid,
        "bandwidth": bandwidth,
        "zcr": _zero_crossing_rate(_padded_window(y, start, stop, "edge"), last - first),
    }
    return features, mag


def _c_ordered_square(mag: np.ndarray) -> np.ndarray:
    """mag² as a C-ordered array: the sparse product copies any other layout first."""
    power = np.empty(mag.shape, mag.dtype)
    np.square(mag, out=power)
    return power


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
    return filterbanks.fft_frequencies(SAMPLE_RATE, N_FFT)


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
    import scipy.sparse

    return scipy.sparse.csr_array(filterbanks.mel(SAMPLE_RATE, N_FFT, N_MELS))


@functools.cache
def _hann() -> np.ndarray:
    return filterbanks.hann(N_FFT).astype(np.float32)


def segment_features(segment: np.ndarray, frames: FrameFeatures, first: int) -> FrameFeatures:
    """Features of the segment starting at frame `first`, as if its audio were analysed alone.

    Interior frames are the full track's; the few STFT frames at each end, whose windows reach
    past the segment, are recomputed from `segment` (the segment's samples; only the windows of
    _edge_ranges are read) with the zero/edge padding a separate analysis would see (an onset
    spike at the cut decides which leading beats the tracker trims).
    """
    count = 1 + len(segment) // HOP_LENGTH
    fields = {
        name: np.array(value[..., first : first + count])
        for name, value in vars(frames).items()
        if isinstance(value, np.ndarray)
    }
    edge = SEGMENT_EDGE_FRAMES
    for lo, hi in ((0, edge), (count - edge, count)):
        patch, _ = _stft_frames(segment, lo, hi)
        for name, value in _stored(patch).items():
            fields[name][..., lo:hi] = value
    return FrameFeatures(**fields, n_samples=len(segment))


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
    freqs = _fft_freqs()
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
    It only reports peaks below 4 kHz, so it sees the STFT rows up to ~4.1 kHz, as a smaller
    FFT at a proportionally lower rate (same Hz per row), with each frame's full-band maximum
    as the threshold reference. piptrack's own steps, in its float types, but its parabolic
    interpolation evaluated at the peaks only (librosa computes it, the gradient and two
    output arrays for every bin): the same values, ~5× faster.
    """
    n_fft = 2 * (PIPTRACK_ROWS - 1)
    sr = SAMPLE_RATE * n_fft / N_FFT
    freqs = filterbanks.fft_frequencies(sr, n_fft)
    inside = np.flatnonzero((freqs >= 150.0) & (freqs < min(4000.0, sr / 2)))
    lo, hi = int(inside[0]), int(inside[-1]) + 1
    rows = mag[: hi + 1]
    threshold = 0.1 * mag.max(axis=0)
    masked = rows * (rows > threshold)
    # librosa.util.localmax: above the bin below, not below the bin above.
    centre = masked[lo:hi]
    bins, frames = np.nonzero(
        (centre > masked[lo - 1 : hi - 1]) & (centre >= masked[lo + 1 : hi + 1])
    )
    bins += lo
    peak, below, above = rows[bins, frames], rows[bins - 1, frames], rows[bins + 1, frames]
    # piptrack's numba stencil: a and b in float64; no shift past a neighbouring bin.
    a = (above + below).astype(np.float64) - 2 * peak.astype(np.float64)
    b = (above - below).astype(np.float64) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a).astype(np.float32)
    gradient = (above - below) / np.float32(2.0)  # np.gradient's central difference
    pitch = ((bins + shift) * sr / n_fft).astype(np.float32)
    return pitch, peak + 0.5 * gradient * shift


def _pooled_tuning(pitch: np.ndarray, magnitude: np.ndarray) -> float:
    """librosa.estimate_tuning's rule on pooled piptrack peaks: strong peaks' pitch deviation."""
    if pitch.size == 0:
        return 0.0
    strong = magnitude >= np.median(magnitude)
    return filterbanks.pitch_tuning(pitch[strong], CHROMA_BINS_PER_OCTAVE, resolution=0.01)


def chroma_chunked(
    y: np.ndarray,
    tuning: float,
    n_frames: int,
    *,
    decimate: bool = True,
    chunk_frames: int = CQT_CHUNK_FRAMES,
    margin_frames: int = CQT_MARGIN_FRAMES,
) -> np.ndarray:
    """Constant-Q chroma (12, n_frames) of `y` at 22050 Hz, hop 512, over overlapping chunks
    (see _chroma_frames)."""
    out = np.empty((12, n_frames), np.float32)
    for first in range(0, n_frames, chunk_frames):
        last = min(first + chunk_frames, n_frames)
        out[:, first:last] = _chroma_frames(
            y, tuning, first, last, decimate=decimate, margin_frames=margin_frames
        )
    return out


def _chroma_frames(
    y: np.ndarray,
    tuning: float,
    first: int,
    last: int,
    *,
    decimate: bool = True,
    margin_frames: int = CQT_MARGIN_FRAMES,
) -> np.ndarray:
    """Constant-Q chroma (12, last - first) of frames [first, last) of `y` (22050 Hz, hop 512).

    The CQT sees frames [first - margin, last + margin) of context; zeros beyond the signal's
    ends stand in for the CQT's own constant padding, and the margin also absorbs the
    resampler's edge transient. With `decimate`, the CQT runs on the signal resampled to
    11025 Hz with hop 256: the top analysed pitch (B7, ~4 kHz) stays well below the new
    Nyquist, every octave's FFTs halve, and chroma values stay close to
    librosa.feature.chroma_cqt at 22050 Hz (see docs/sonic-features.md for the measured error).
    """
    import soxr

    factor = 2 if decimate else 1
    rate, hop = SAMPLE_RATE // factor, HOP_LENGTH // factor
    window = _padded_window(
        y, (first - margin_frames) * HOP_LENGTH, (last + margin_frames) * HOP_LENGTH, "constant"
    )
    # Resampling per chunk keeps no whole-track copy.
    piece = soxr.resample(window, SAMPLE_RATE, rate, quality="HQ") if decimate else window
    chroma = _chroma_cqt(np.asarray(piece, np.float32), rate, hop, tuning)
    # CQT frame k of the piece is centred on frame first - margin_frames + k.
    return chroma[:, margin_frames : margin_frames + last - first]


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
    filters are librosa's (filterbanks.wavelet) centred in n_fft samples. Only which 1 % of
    each filter's spectrum sparsify_rows drops differs. Every octave's FFTs and sparse
    products get ~40 % cheaper.
    """
    import scipy.fft

    bins = CHROMA_BINS_PER_OCTAVE
    freqs = filterbanks.C1_HZ * 2.0 ** ((tuning + np.arange(bins * CHROMA_OCTAVES)) / bins)
    all_lengths = filterbanks.wavelet_lengths(freqs, rate, _CQT_ALPHA)
    lengths = all_lengths[-bins:]
    # Even, like librosa's power of two, so centring in it keeps every filter's position.
    n_fft = scipy.fft.next_fast_len(int(np.ceil(lengths.max())), real=True)
    while n_fft % 2:
        n_fft = scipy.fft.next_fast_len(n_fft + 1, real=True)
    basis = filterbanks.wavelet(freqs[-bins:], rate, _CQT_ALPHA, n_fft)
    basis *= lengths[:, None] / float(n_fft)
    spectrum = np.fft.fft(basis, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
    sparse = filterbanks.sparsify_rows(spectrum, quantile=0.01, dtype=np.complex64)
    return sparse, n_fft, np.sqrt(all_lengths).astype(np.float32)


def _chroma_cqt(y: np.ndarray, rate: int, hop: int, tuning: float) -> np.ndarray:
    """librosa.feature.chroma_cqt(y, sr=rate, hop_length=hop, tuning, 36 bins/octave, 7 octaves).

    The same recursive-downsampling CQT as librosa.vqt (ones-window STFT per octave, sparse
    filters, soxr_hq halving) with the filters built once, at a shorter FFT size (see
    _cqt_basis); chroma differs from librosa's by ~1e-3 per frame (docs/sonic-features.md).
    """
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
        rows = magnitude[bins * (CHROMA_OCTAVES - 1 - octave) : bins * (CHROMA_OCTAVES - octave)]
        np.abs(basis @ spectrum, out=rows)
        # librosa scales each octave by sqrt(downsampling factor) = 2 ** (octave / 2).
        rows *= np.float32(2.0 ** (octave / 2))
        if octave < CHROMA_OCTAVES - 1:
            octave_hop //= 2
            octave_y = filterbanks.resample(octave_y, 2, 1)
    magnitude /= sqrt_lengths[:, None]
    return filterbanks.chroma_from_cqt(magnitude, bins)


def summarise(frames: FrameFeatures) -> _BeatSummary:
    """The 137-d vector of one stretch of frames (full track or segment) and its beat facts.

    Consumes `frames`: its dB arrays get their floors in place, and its mel spectrogram (the
    largest array) is let go once the onset envelope and MFCCs are out.
    """
    duration = frames.n_samples / SAMPLE_RATE
    onset_env, mfcc = _onset_and_mfcc(frames)
    chroma = frames.chroma * np.float32(1 / CHROMA_STEPS)
    mfcc_delta = rhythm.delta(mfcc)

    tempo_acf = _mean_tempogram(onset_env, TEMPOGRAM_WIN)
    if onset_env.any():
        # librosa tempo()'s estimate (its prior over the mean tempogram) seeds the tracker,
        # from the layout's 384-frame tempogram: beat_track's own would be a second tempogram
        # (8 s, 344 frames) for the same beat period in nearly every case (sonic-features.md).
        bpm = rhythm.estimate_tempo(tempo_acf)
        beats = rhythm.track_beats(onset_env, bpm)
    else:
        bpm, beats = 0.0, np.zeros(0, int)
    fallback = len(beats) < MIN_BEATS
    if not fallback:
        bpm = beat_bpm(beats)
    grid = np.arange(0.0, duration + 1e-9, GRID_SECONDS)
    bounds = rhythm.time_to_frames(grid) if fallback else beats

    # librosa.feature.spectral_contrast's dB step, with its 80 dB floor set by this stretch.
    contrast = _floor(_from_fixed_db(frames.contrast_peak_db))
    contrast -= _floor(_from_fixed_db(frames.contrast_valley_db))
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
            ("chroma", chroma),
            ("tonnetz", _tonnetz(chroma)),
        )
    }

    # Every row's quartiles in one call (rows are independent: the same values as one call
    # per feature, without ~20 calls' overhead per summary).
    rows: dict[str, slice] = {}
    start = 0
    for name, values in per_beat.items():
        rows[name] = slice(start, start + len(values))
        start += len(values)
    p25, p50, p75 = np.percentile(np.concatenate(list(per_beat.values())), [25, 50, 75], axis=1)

    def median(name: str) -> np.ndarray:
        return np.asarray(p50[rows[name]])

    def iqr(name: str) -> np.ndarray:
        return np.asarray(p75[rows[name]] - p25[rows[name]])

    rhythm_tower = _rhythm_dims(
        onset_env, per_beat["onset"][0], beats, fallback, tempo_acf, duration, bpm
    )
    timbre = [median("mfcc"), iqr("mfcc"), median("delta"), median("contrast"), iqr("contrast")]
    for name in ("rolloff", "centroid", "bandwidth", "onset"):  # "onset" = the flux dims
        timbre += [median(name), iqr(name)]
    timbre.append(median("zcr"))
    mean_chroma = chroma.mean(axis=1, dtype=np.float64)
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
    vector = np.concatenate([rhythm_tower, vector]).astype(np.float32)
    if vector.shape != (N_FEATURES,):
        raise ValueError(f"beat3tower vector has {vector.shape} dims, expected {N_FEATURES}")

    half, double = _tempo_octave_hints(beats, bpm, fallback)
    return _BeatSummary(
        vector=vector,
        n_beats=len(beats),
        fallback=fallback,
        bpm=bpm,
        tempo_stability=float(rhythm_tower[20]),
        half_tempo_likely=half,
        double_tempo_likely=double,
    )


def _tonnetz(chroma: np.ndarray) -> np.ndarray:
    """filterbanks.tonnetz (frame-local) in chunks of frames: a normalised copy and float64
    products of the whole stretch at once peaked at ~37 MiB for an hour."""
    n = chroma.shape[1]
    tonnetz = np.empty((6, n))
    for first in range(0, n, SUMMARY_CHUNK_FRAMES):
        last = min(first + SUMMARY_CHUNK_FRAMES, n)
        tonnetz[:, first:last] = filterbanks.tonnetz(chroma[:, first:last])
    return tonnetz


def _onset_and_mfcc(frames: FrameFeatures) -> tuple[np.ndarray, np.ndarray]:
    """librosa's onset_strength(S=log_mel) and mfcc(S=log_mel, n_mfcc=20) of the stretch, where
    log_mel = power_to_db of its mel spectrogram (top_db=80 below the stretch's maximum).

    In chunks of frames: no (128, n) difference or DCT array exists, and each chunk's MFCCs
    are written over its low mel bands, whose dB values are no longer needed; the high bands
    are then let go (frames.mel_db_low becomes the MFCC array, frames.mel_db_high empty).
    librosa's onset rule: frame t is the mean over bands of max(0, S[t - 2] - S[t - 3]); the
    first three frames are 0.
    """
    import scipy.fft

    low, high = frames.mel_db_low, frames.mel_db_high
    floor = max(low.max(), high.max()) - 80.0  # float32, as in librosa.power_to_db
    np.maximum(low, floor, out=low)
    np.maximum(high, floor, out=high)
    n = low.shape[1]
    onset = np.zeros(n, np.float32)
    previous = None  # the frame before the chunk (its low bands are MFCCs by now)
    for first in range(0, n, SUMMARY_CHUNK_FRAMES):
        last = min(first + SUMMARY_CHUNK_FRAMES, n)
        chunk = np.concatenate([low[:, first:last], high[:, first:last]])
        span = chunk if previous is None else np.concatenate([previous, chunk], axis=1)
        diff = span[:, 1:] - span[:, :-1]  # frame t minus frame t - 1, t from start
        np.maximum(diff, 0.0, out=diff)
        start = first if previous is not None else first + 1
        stop = min(last, n - 2)  # frame t's difference is onset frame t + 2
        if stop > start:
            onset[start + 2 : stop + 2] = diff[:, : stop - start].mean(axis=0)
        previous = chunk[:, -1:].copy()
        low[:, first:last] = scipy.fft.dct(chunk, axis=0, type=2, norm="ortho")[:N_MFCC]
    frames.mel_db_low = frames.mel_db_high = np.zeros((0, 0), np.float32)
    return onset, low


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
    n_onsets = len(rhythm.detect_onsets(onset_env))
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
    lags = np.flatnonzero(rhythm.localmax(acf))
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
    result = np.empty((rows.shape[0], len(starts)))
    cumulative = np.zeros(n + 1, np.float64)
    for k, row in enumerate(rows):  # row by row: one float64 row at a time, not (k, n)
        np.cumsum(row, dtype=np.float64, out=cumulative[1:])
        result[k] = (cumulative[stops] - cumulative[starts]) / (stops - starts)
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

    n = len(onset_env)
    padded = np.pad(
        onset_env.astype(np.float32), win_length // 2, mode="linear_ramp", end_values=(0, 0)
    )
    window = filterbanks.hann(win_length).astype(np.float32)
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

"""Fast beat3tower extraction: known tempo and pitch, fallback and segment rules, and closeness
to the straightforward reference extractor (tests/sonic_reference.py) on several kinds of audio.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import librosa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beetsplug._dspipeline.sonic import layout
from beetsplug._dspipeline.sonic.decode import decode
from beetsplug._dspipeline.sonic.extract import (
    TrackFeatures,
    _band_peaks_valleys,
    _contrast_bands,
    _interval_means,
    _mean_tempogram,
    _padded_window,
    _pooled_tuning,
    _tempo_octave_hints,
    _tuning_peaks,
    _zero_crossing_rate,
    analyse_file,
    analyse_signal,
    beat_bpm,
    chroma_chunked,
    spectral_shape,
)
from tests import audio_fixtures as fx
from tests.sonic_reference import ReferenceResult, reference_signal

SR = 22050
IDX = layout.feature_index


def _load(path: Path) -> np.ndarray:
    # The reference extractor gets the signal the fast path analyses: for lossless files that
    # is librosa.load's (test_sonic_decode), for MP3 FFmpeg's decoder differs from libsndfile's
    # mpg123 by ~1e-6, enough to move the near-empty top contrast band by 0.02.
    return decode(path).y


def test_layout_names_and_towers() -> None:
    assert len(layout.FEATURE_NAMES) == 137 == len(set(layout.FEATURE_NAMES))
    assert (
        slice(0, 21),
        slice(21, 104),
        slice(104, 137),
    ) == (layout.RHYTHM, layout.TIMBRE, layout.HARMONY)
    assert IDX("bpm") == 19 and IDX("zcr_median") == 103 and IDX("tonnetz_median_5") == 136
    with pytest.raises(KeyError, match="nope"):
        IDX("nope")


@pytest.mark.parametrize("bpm", [72.0, 96.0, 128.0, 150.0])
def test_tempo_on_click_tracks(tmp_path: Path, bpm: float) -> None:
    feats = analyse_file(fx.write(tmp_path / f"clicks{bpm:.0f}.wav", fx.clicks(bpm, 14.0)))
    # Within 2 %, or 2 % of a tempo octave (the tracker may lock to half or double).
    ratios = [feats.bpm / (bpm * k) for k in (0.5, 1.0, 2.0)]
    assert min(abs(r - 1) for r in ratios) < 0.02, feats.bpm
    assert feats.full[IDX("bpm")] == pytest.approx(feats.bpm, rel=1e-6)
    assert not feats.beat_fallback and feats.n_beats >= 10
    assert feats.tempo_stability > 0.9
    assert feats.full[IDX("beat_interval_median")] == pytest.approx(60.0 / feats.bpm, rel=0.03)


@pytest.mark.parametrize(
    ("name", "pitch_classes"), [("C", (0, 4, 7)), ("D", (2, 6, 9)), ("Bbm", (10, 1, 5))]
)
def test_chroma_peaks_at_chord_pitch_classes(
    tmp_path: Path, name: str, pitch_classes: tuple[int, ...]
) -> None:
    feats = analyse_file(fx.write(tmp_path / f"{name}.flac", fx.chord(pitch_classes, 6.0)))
    chroma = feats.full[layout.HARMONY][:12]
    top3 = set(np.argsort(chroma)[-3:].tolist())
    assert top3 == set(pitch_classes), chroma.round(2)
    assert feats.full[IDX("chroma_peak_count")] >= 2


def test_drone_falls_back_to_time_grid(tmp_path: Path) -> None:
    # A short pad with long fades: librosa's tracker finds < 4 beats. (On a long stationary
    # drone it reports beats on numerical flux noise; see docs/sonic-features.md.)
    feats = analyse_file(fx.write(tmp_path / "drone.flac", fx.drone(12.0)))
    assert feats.beat_fallback and feats.n_beats < 4
    assert feats.tempo_stability == 0.0 and not feats.half_tempo_likely
    assert np.all(np.isfinite(feats.full))
    # Aggregated over 0.5 s windows: the MFCC spread is a real statistic, not a single value.
    assert feats.full[IDX("mfcc_iqr_1")] > 0
    assert feats.full[IDX("beat_interval_median")] == 0.0
    assert set(np.argsort(feats.full[104:116])[-1:].tolist()) == {9}  # the drone is an A


def test_short_track_segments_copy_full(tmp_path: Path) -> None:
    feats = analyse_file(fx.write(tmp_path / "short.flac", fx.song(20.0)))
    for segment in (feats.start, feats.mid, feats.end):
        np.testing.assert_array_equal(segment, feats.full)
    assert feats.full.shape == (137,) and feats.full.dtype == np.float32


def _assert_close(fast: np.ndarray, ref: np.ndarray, what: str) -> None:
    """Per-tower tolerances (docs/sonic-features.md explains them).

    Rhythm and timbre: the same librosa computations on the same frames, so only rounding
    differs (chunked FFTs, cumulative-sum means, float32 storage): rtol 1e-4, atol 1e-4; but
    spectral contrast valleys of bands whose quietest bins are float32 FFT rounding noise (pure
    tones, band-limited audio) follow the FFT implementation's rounding (0.3 dB + 5 %), and the
    Hz-valued shape dims get 0.01 Hz of slack for the same reason.
    Harmony: the fast chroma comes from a CQT of a 11025 Hz copy, and segment cuts add CQT edge
    effects in the reference: chroma/tonnetz/entropy/key strength within 0.03 + 2 %, and the
    peak count (an integer threshold count) within 1.
    """
    fast, ref = fast.astype(np.float64), ref.astype(np.float64)
    close = np.abs(fast - ref) <= 1e-4 + 1e-4 * np.abs(ref)
    contrast = [IDX(f"spec_contrast_{stat}_{k}") for stat in ("median", "iqr") for k in range(7)]
    close[contrast] = np.abs(fast - ref)[contrast] <= 0.3 + 0.05 * np.abs(ref[contrast])
    hertz = [
        IDX(f"spec_{name}_{stat}")
        for name in ("rolloff", "centroid", "bandwidth")
        for stat in ("median", "iqr")
    ]
    close[hertz] = np.abs(fast - ref)[hertz] <= 0.01 + 1e-4 * np.abs(ref[hertz])
    harmony = np.abs(fast - ref) <= 0.03 + 0.02 * np.abs(ref)
    close[layout.HARMONY] = harmony[layout.HARMONY]
    peak_count = IDX("chroma_peak_count")
    close[peak_count] = abs(fast[peak_count] - ref[peak_count]) <= 1
    bad = [
        f"{layout.FEATURE_NAMES[i]}: fast {fast[i]:.6g} ref {ref[i]:.6g}"
        for i in np.flatnonzero(~close)
    ]
    assert not bad, f"{what}: " + "; ".join(bad)


@pytest.fixture(scope="module")
def long_song(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrackFeatures, ReferenceResult]:
    path = fx.write(tmp_path_factory.mktemp("long") / "long.flac", fx.song(75.0, bpm=128.0))
    return analyse_file(path), reference_signal(_load(path))


def test_long_track_segments_match_reference(
    long_song: tuple[TrackFeatures, ReferenceResult],
) -> None:
    fast, ref = long_song
    assert fast.duration == pytest.approx(75.0, abs=0.01)
    for name in ("full", "start", "mid", "end"):
        _assert_close(getattr(fast, name), getattr(ref, name), name)
    # Segments are computed on their own 30 s: fewer beats' worth of audio, own statistics.
    assert not np.array_equal(fast.start, fast.full)
    assert not np.array_equal(fast.mid, fast.end)
    assert fast.n_beats == ref.n_beats


def test_beatless_segment_takes_full_vector(tmp_path: Path) -> None:
    # 30 s of silence, then 40 s of clicks: the start segment has no beats of its own.
    y = np.concatenate([np.zeros(30 * fx.SR), fx.clicks(110.0, 40.0)])
    feats = analyse_file(fx.write(tmp_path / "late-start.flac", y))
    assert not feats.beat_fallback
    np.testing.assert_array_equal(feats.start, feats.full)
    assert not np.array_equal(feats.end, feats.full)


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("noise", lambda: fx.noise(6.0)),
        ("chord", lambda: fx.chord((2, 6, 9), 6.0)),
        ("drone", lambda: fx.drone(10.0)),
        ("clicks", lambda: fx.clicks(100.0, 8.0)),
        ("stereo-song-mp3", lambda: fx.stereo(fx.song(8.0, bpm=90.0))),
    ],
)
def test_fast_matches_reference(tmp_path: Path, kind: str, make: object) -> None:
    ext = "mp3" if kind.endswith("mp3") else "wav"
    path = fx.write(tmp_path / f"{kind}.{ext}", make())  # type: ignore[operator]
    fast = analyse_file(path)
    ref = reference_signal(_load(path))
    assert (fast.n_beats, fast.beat_fallback) == (ref.n_beats, ref.fallback)
    _assert_close(fast.full, ref.full, kind)


def test_analyse_signal_equals_analyse_file(tmp_path: Path) -> None:
    path = fx.write(tmp_path / "song.wav", fx.song(6.0), sr=SR)
    from_file = analyse_file(path)
    from_signal = analyse_signal(_load(path), SR)
    np.testing.assert_array_equal(from_file.full, from_signal.full)
    assert from_file.sample_rate == SR and from_file.bpm == from_signal.bpm


def test_tempo_octave_hint_rule() -> None:
    # Beat frames at hop 512: 20 frames = 129.2 BPM; 40 frames = half that; 10 = double.
    steady = np.cumsum([0] + [20] * 30)
    assert _tempo_octave_hints(steady, beat_bpm(steady), False) == (False, False)
    mixed_half = np.cumsum([0] + [20] * 18 + [40] * 8)  # 8 of 26 intervals (31 %) at half
    assert beat_bpm(mixed_half) == pytest.approx(60 * SR / (512 * 20))
    assert _tempo_octave_hints(mixed_half, beat_bpm(mixed_half), False) == (True, False)
    few_half = np.cumsum([0] + [20] * 22 + [40] * 4)  # 15 %: below the 25 % rule
    assert _tempo_octave_hints(few_half, beat_bpm(few_half), False) == (False, False)
    mixed_double = np.cumsum([0] + [20] * 12 + [10] * 6)
    assert _tempo_octave_hints(mixed_double, 129.2, False) == (False, True)
    assert _tempo_octave_hints(mixed_double, 129.2, True) == (False, False)


def test_chunked_chroma_equals_one_pass() -> None:
    y = fx.song(30.0, sr=SR).astype(np.float32)
    n = 1 + len(y) // 512
    one_pass = chroma_chunked(y, -0.1, n, chunk_frames=10**6)
    chunked = chroma_chunked(y, -0.1, n, chunk_frames=300)
    np.testing.assert_allclose(chunked, one_pass, atol=1e-3)
    # And the decimated CQT stays close to librosa's chroma_cqt at the full rate.
    plain = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=512, tuning=-0.1)
    assert np.mean(np.abs(one_pass - plain)) < 0.01


@pytest.mark.parametrize("tuning", [-0.1, 0.37])
def test_short_fft_cqt_matches_librosa_chroma(tuning: float) -> None:
    # The CQT runs on FFTs just long enough for its longest filter (576 points at 22050 Hz,
    # librosa: 1024); only which 1 % of each filter's spectrum is dropped differs. Observed:
    # mean per-frame difference ≤ 7e-4, max 0.009, time-averaged chroma ≤ 0.0022.
    y = fx.song(30.0, sr=SR).astype(np.float32)
    n = 1 + len(y) // 512
    plain = librosa.feature.chroma_cqt(y=y, sr=SR, hop_length=512, tuning=tuning)
    ours = chroma_chunked(y, tuning, n, decimate=False)
    assert np.mean(np.abs(ours - plain)) < 0.002
    assert np.max(np.abs(ours - plain)) < 0.03
    np.testing.assert_allclose(ours.mean(axis=1), plain.mean(axis=1), atol=0.005)


def test_fast_helpers_match_librosa() -> None:
    y = fx.song(12.0, sr=SR).astype(np.float32)
    y[:SR] = 0.0  # a silent second: the zero-column rules must agree too
    onset = librosa.onset.onset_strength(y=y, sr=SR)
    expected = librosa.feature.tempogram(onset_envelope=onset, sr=SR).mean(axis=1)
    # float32 FFTs, time-averaged: far inside the rhythm tolerance (1e-4).
    np.testing.assert_allclose(_mean_tempogram(onset, 384), expected, atol=1e-6)
    mag = np.abs(librosa.stft(y))
    peak, valley = _band_peaks_valleys(mag, _contrast_bands())
    contrast = librosa.power_to_db(peak) - librosa.power_to_db(valley)
    np.testing.assert_allclose(
        contrast, librosa.feature.spectral_contrast(S=mag, sr=SR), rtol=1e-5, atol=1e-4
    )
    rolloff, centroid, bandwidth = spectral_shape(mag)
    np.testing.assert_array_equal(rolloff, librosa.feature.spectral_rolloff(S=mag, sr=SR)[0])
    np.testing.assert_allclose(
        centroid, librosa.feature.spectral_centroid(S=mag, sr=SR)[0], rtol=1e-6, atol=1e-3
    )
    np.testing.assert_allclose(
        bandwidth, librosa.feature.spectral_bandwidth(S=mag, sr=SR)[0], rtol=1e-6, atol=1e-3
    )
    n = mag.shape[1]
    window = _padded_window(y, -1024, (n - 1) * 512 + 1024, "edge")
    np.testing.assert_array_equal(
        _zero_crossing_rate(window, n), librosa.feature.zero_crossing_rate(y)[0]
    )
    pitch, magnitude = _tuning_peaks(mag)
    ref_pitch, ref_magnitude = librosa.piptrack(S=mag, sr=SR)
    found = ref_pitch > 0
    np.testing.assert_allclose(pitch, ref_pitch[found], rtol=1e-6)
    np.testing.assert_allclose(magnitude, ref_magnitude[found], rtol=1e-6)
    assert _pooled_tuning(pitch, magnitude) == pytest.approx(
        librosa.estimate_tuning(y=y, sr=SR, bins_per_octave=36)
    )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 60),
    raw_bounds=st.lists(st.integers(0, 70), max_size=12),
    seed=st.integers(0, 2**16),
)
def test_interval_means_match_naive_loop(n: int, raw_bounds: list[int], seed: int) -> None:
    rows = np.random.default_rng(seed).standard_normal((3, n)).astype(np.float32)
    bounds = np.array(sorted(raw_bounds), dtype=int)
    expected = [
        rows[:, a:b].astype(np.float64).mean(axis=1)
        for a, b in itertools.pairwise(bounds)
        if n >= b > a
    ]
    got = _interval_means(rows, bounds)
    if not expected:  # no interval inside the signal: the whole-signal mean
        np.testing.assert_allclose(got[:, 0], rows.astype(np.float64).mean(axis=1), atol=1e-9)
    else:
        np.testing.assert_allclose(got, np.stack(expected, axis=1), atol=1e-9)

"""sonic/rhythm.py against librosa 0.11, the oracle it replaces in the analysis path.

Beat frames, tempo and onset frames must be identical, not close: one beat more or less moves
every beat-synchronous dimension of a vector. Envelopes are generated (always) and taken from
real recordings of the public corpora (skipped cleanly when ~/.cache/dspipeline-corpora is
absent).
"""

from __future__ import annotations

import os
from pathlib import Path

import librosa
import numpy as np
import pytest

from beetsplug._dspipeline.sonic import rhythm
from beetsplug._dspipeline.sonic.decode import decode
from beetsplug._dspipeline.sonic.extract import _mean_tempogram
from beetsplug._dspipeline.sonic.layout import HOP_LENGTH, SAMPLE_RATE, SEGMENT_SECONDS

CORPORA = Path(os.environ.get("DSP_CORPORA", Path.home() / ".cache" / "dspipeline-corpora"))
FRAME_RATE = SAMPLE_RATE / HOP_LENGTH
# Tempi far from the prior's 120 BPM, and one whose period rounds half to even (43.5 frames).
OTHER_BPMS = (41.0, 88.3, 60.0 * FRAME_RATE / 43.5, 185.0, 300.0)


def _librosa_beats(env: np.ndarray, bpm: float) -> np.ndarray:
    _, beats = librosa.beat.beat_track(
        onset_envelope=env, sr=SAMPLE_RATE, hop_length=HOP_LENGTH, bpm=bpm
    )
    return np.asarray(beats)


def _librosa_tempo(acf: np.ndarray) -> float:
    tempo = librosa.feature.tempo(tg=acf[:, None], sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
    return float(np.asarray(tempo).item())


def _librosa_onsets(env: np.ndarray) -> np.ndarray:
    return np.asarray(
        librosa.onset.onset_detect(onset_envelope=env, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
    )


def _envelope(kind: str, seed: int, seconds: float = 60.0) -> np.ndarray:
    """A float32 onset envelope as onset_strength gives one: non-negative, its first frames 0."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FRAME_RATE)
    frames = np.arange(n)
    period = rng.uniform(12.0, 70.0)  # 37-215 BPM
    if kind == "pulse":  # a steady beat with noise and timing jitter
        phase = 2 * np.pi * (frames + rng.normal(0, 0.3, n).cumsum() * 0.05) / period
        env = np.maximum(0.0, np.cos(phase)) ** 12 * rng.uniform(0.5, 2.0, n)
        env += 0.2 * rng.random(n)
    elif kind == "sparse":  # random onsets, no beat
        env = np.where(rng.random(n) < 0.05, rng.exponential(1.0, n), 0.0)
    elif kind == "gaps":  # silence before, between and after beat sections
        env = np.zeros(n)
        for lo, hi in ((0.15, 0.4), (0.55, 0.8)):
            part = frames[int(lo * n) : int(hi * n)]
            pulse = np.maximum(0.0, np.cos(2 * np.pi * part / period)) ** 8
            env[part] = pulse + 0.1 * rng.random(len(part))
    elif kind == "tempo_change":  # the period shrinks by a third halfway
        env = np.where(
            frames < n // 2,
            np.maximum(0.0, np.cos(2 * np.pi * frames / period)) ** 8,
            np.maximum(0.0, np.cos(3 * np.pi * frames / period)) ** 8,
        )
        env += 0.3 * rng.random(n)
    else:
        raise ValueError(kind)
    env[:3] = 0.0
    return env.astype(np.float32)


def _assert_rhythm_matches(env: np.ndarray, acf: np.ndarray) -> tuple[float, np.ndarray]:
    """Tempo, beats (at that tempo and at far tempi) and onsets identical to librosa's."""
    bpm = rhythm.estimate_tempo(acf)
    assert bpm == _librosa_tempo(acf)
    for tempo in (bpm, *OTHER_BPMS):
        np.testing.assert_array_equal(
            rhythm.track_beats(env, tempo), _librosa_beats(env, tempo), err_msg=f"{tempo} BPM"
        )
    np.testing.assert_array_equal(rhythm.detect_onsets(env), _librosa_onsets(env))
    return bpm, rhythm.track_beats(env, bpm)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", ["pulse", "sparse", "gaps", "tempo_change"])
def test_generated_envelopes_match_librosa(kind: str, seed: int) -> None:
    env = _envelope(kind, seed)
    acf = librosa.feature.tempogram(onset_envelope=env, hop_length=HOP_LENGTH).mean(axis=1)
    _, beats = _assert_rhythm_matches(env, acf)
    if kind != "sparse":  # a beat was there to find
        assert len(beats) >= 10


def test_steady_pulse_gives_its_tempo_and_beats() -> None:
    # Not only librosa's answer but the right one: a click every 22 frames is 117.4 BPM.
    env = np.zeros(int(30 * FRAME_RATE), np.float32)
    env[5::22] = 1.0
    bpm = rhythm.estimate_tempo(_mean_tempogram(env, 384))
    assert bpm == pytest.approx(60 * FRAME_RATE / 22)
    beats = rhythm.track_beats(env, bpm)
    assert len(beats) >= 55
    assert set(np.diff(beats).tolist()) == {22}
    assert set((beats % 22).tolist()) == {5}
    np.testing.assert_array_equal(rhythm.detect_onsets(env), np.flatnonzero(env))


EDGE_CASES = {
    "single onset": lambda: np.eye(1, 600, 300, dtype=np.float32)[0],
    "two onsets": lambda: (np.eye(1, 600, 100) + 0.5 * np.eye(1, 600, 140))[0].astype(np.float32),
    "very short": lambda: np.array([0, 0, 0, 1, 0, 0.2, 0, 0.9, 0, 0, 0.1, 0], np.float32),
    "30 frames": lambda: _envelope("pulse", 7, seconds=0.7),
    "one second": lambda: _envelope("pulse", 8, seconds=1.0),
    "leading silence": lambda: np.concatenate(
        [np.zeros(2000, np.float32), _envelope("pulse", 9, seconds=20.0)]
    ),
    "plateaus": lambda: np.repeat(_envelope("sparse", 10, seconds=20.0)[::4], 4),
    "float64": lambda: _envelope("pulse", 11).astype(np.float64),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_match_librosa(case: str) -> None:
    env = EDGE_CASES[case]()
    for bpm in (120.0, *OTHER_BPMS):
        np.testing.assert_array_equal(
            rhythm.track_beats(env, bpm), _librosa_beats(env, bpm), err_msg=f"{bpm} BPM"
        )
    np.testing.assert_array_equal(rhythm.detect_onsets(env), _librosa_onsets(env))


def test_silence_has_no_beats_onsets_or_peaks() -> None:
    env = np.zeros(1000, np.float32)
    assert len(rhythm.track_beats(env, 120.0)) == len(_librosa_beats(env, 120.0)) == 0
    assert len(rhythm.detect_onsets(env)) == len(_librosa_onsets(env)) == 0
    assert not rhythm.localmax(env).any()


def test_no_beats_when_the_local_score_is_nowhere_positive() -> None:
    # The local score never reads frame 0, so an envelope non-zero only there has nothing to
    # track. (librosa's compiled trimming loop runs past the array here: not compared.)
    env = np.zeros(500, np.float32)
    env[0] = 1.0
    assert len(rhythm.track_beats(env, 120.0)) == 0


def test_constant_envelope_has_no_onsets() -> None:
    env = np.full(500, 0.3, np.float32)
    assert len(rhythm.detect_onsets(env)) == len(_librosa_onsets(env)) == 0


def test_invalid_tempo_is_refused() -> None:
    env = _envelope("pulse", 0, seconds=5.0)
    for bpm in (0.0, -60.0, float("nan"), 1e6):
        with pytest.raises(ValueError, match="bpm"):
            rhythm.track_beats(env, bpm)


def test_tempo_prior_matches_librosa_on_flat_and_single_peak_tempograms() -> None:
    flat = np.ones(384)  # the prior alone decides: 120 BPM's nearest lag
    assert rhythm.estimate_tempo(flat) == _librosa_tempo(flat) == pytest.approx(120, rel=0.03)
    for lag in (8, 9, 30, 150, 383):  # 8 is above 320 BPM: excluded
        acf = np.zeros(384)
        acf[0], acf[lag] = 1.0, 0.8
        assert rhythm.estimate_tempo(acf) == _librosa_tempo(acf)
    assert rhythm.estimate_tempo(np.eye(1, 384, 150)[0]) == pytest.approx(60 * FRAME_RATE / 150)


def test_peak_pick_matches_librosa() -> None:
    rng = np.random.default_rng(1)
    for n in (1, 2, 9, 60):
        for _ in range(40):
            x = rng.integers(0, 4, n).astype(np.float32)  # ties: at a window's max and mean
            windows = rng.integers(0, 6, 4).tolist()
            params = {
                "pre_max": windows[0],
                "post_max": windows[1] + 1,
                "pre_avg": windows[2],
                "post_avg": windows[3] + 1,
                "delta": float(rng.choice([0.0, 0.07, 0.5])),
                "wait": int(rng.integers(0, 4)),
            }
            np.testing.assert_array_equal(
                rhythm.peak_pick(x, **params), librosa.util.peak_pick(x, **params), str(params)
            )


def test_localmax_matches_librosa() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 5, 40):
        for _ in range(50):
            x = rng.integers(0, 3, n).astype(np.float64)  # many ties and plateaus
            np.testing.assert_array_equal(rhythm.localmax(x), librosa.util.localmax(x))
    assert rhythm.localmax(np.array([0.0, 2.0, 1.0, 3.0])).tolist() == [False, True, False, True]


def test_time_to_frames_matches_librosa() -> None:
    frame = HOP_LENGTH / SAMPLE_RATE
    times = np.concatenate([np.arange(0.0, 100.0, 0.5), np.arange(0, 500) * frame, [0.7 * frame]])
    np.testing.assert_array_equal(
        rhythm.time_to_frames(times),
        librosa.time_to_frames(times, sr=SAMPLE_RATE, hop_length=HOP_LENGTH),
    )
    assert rhythm.time_to_frames([0.0, 1.0]).tolist() == [0, SAMPLE_RATE // HOP_LENGTH]


@pytest.mark.parametrize("n", [9, 10, 57, 2000])
def test_delta_matches_librosa_within_float_rounding(n: int) -> None:
    data = (np.random.default_rng(n).standard_normal((20, n)) * 40).astype(np.float32)
    ours, theirs = rhythm.delta(data), librosa.feature.delta(data)
    assert ours.dtype == theirs.dtype == np.float32
    # One float32 rounding step of the inputs' scale: librosa's coefficients come from a
    # least-squares solve (and a float32 fit at the ends), ours from the closed form.
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=4e-6 * np.abs(data).max())


def test_delta_of_a_ramp_is_its_slope_everywhere() -> None:
    ramp = np.stack([np.arange(50.0) * 0.5, np.arange(50.0) * -2.0 + 7.0])
    np.testing.assert_allclose(rhythm.delta(ramp), [[0.5] * 50, [-2.0] * 50], atol=1e-12)
    with pytest.raises(ValueError, match="exceeds"):
        rhythm.delta(np.zeros((2, 8)))


def _corpus_recordings() -> list[Path]:
    found = sorted((CORPORA / "audio" / "asc").glob("*.mp3"))
    found += sorted((CORPORA / "audio" / "moh").glob("*.wav"))
    found += sorted((CORPORA / "music" / "drascula").glob("*.ogg"))[:6]
    return found


@pytest.mark.corpus
@pytest.mark.parametrize("path", _corpus_recordings(), ids=lambda p: p.name)
def test_real_recordings_match_librosa(path: Path) -> None:
    # Full track and its 30 s start/mid/end stretches, as summarise() sees them.
    y = decode(path).y
    env = librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
    n, width = len(env), int(SEGMENT_SECONDS * FRAME_RATE)
    stretches = [env, env[:width], env[max(0, n // 2 - width // 2) :][:width], env[-width:]]
    for stretch in stretches:
        bpm, beats = _assert_rhythm_matches(stretch, _mean_tempogram(stretch, 384))
        assert bpm > 0 and len(beats) >= 2

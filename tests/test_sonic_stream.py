"""Block-by-block analysis: the decoder's blocks, the streamed extractor against the whole
signal analysed at once, segment cuts when the declared length is wrong, and the chunked
summary helpers against librosa."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest

from beetsplug._dspipeline.sonic import extract
from beetsplug._dspipeline.sonic.decode import BlockDecoder, decode
from beetsplug._dspipeline.sonic.extract import analyse_file, analyse_signal
from tests import audio_fixtures as fx

SR = 22050
FIELDS = ("full", "start", "mid", "end")


def _assert_same(a: extract.TrackFeatures, b: extract.TrackFeatures) -> None:
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert (a.n_beats, a.bpm) == (b.n_beats, b.bpm)


@pytest.fixture(scope="module")
def long_song(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """150 s of generated music as 44.1 kHz stereo FLAC (four CQT chunks, three segments),
    and its decoded 22050 Hz signal."""
    path = tmp_path_factory.mktemp("stream") / "long.flac"
    fx.write(path, fx.stereo(fx.song(150.0, bpm=111.0, seed=7)))
    return path, decode(path).y


def test_blocks_are_the_decoded_signal(long_song: tuple[Path, np.ndarray]) -> None:
    path, y = long_song
    with BlockDecoder(path) as decoder:
        blocks = list(decoder.blocks())
        assert decoder.source_sample_rate == fx.SR
        assert decoder.declared_seconds == pytest.approx(150.0, abs=0.01)
        assert decoder.duration == pytest.approx(150.0, abs=0.01)
    assert len(blocks) > 10  # really block by block
    np.testing.assert_array_equal(np.concatenate(blocks), y)
    assert decoder.audio_hash == decode(path).audio_hash


def test_streamed_file_equals_whole_signal_at_once(long_song: tuple[Path, np.ndarray]) -> None:
    path, y = long_song
    streamed = analyse_file(path)
    # The whole signal as one block: every chunk sees the complete signal, as an in-memory
    # extractor would; and in odd-sized blocks that split frames and chunks anywhere.
    whole = extract._signal_features(y, "whole", fx.SR, streamed.duration, block=len(y))
    odd = extract._signal_features(y, "odd", fx.SR, streamed.duration, block=12_345)
    _assert_same(streamed, whole)
    _assert_same(streamed, odd)
    _assert_same(streamed, analyse_signal(y, SR))
    assert not np.array_equal(streamed.start, streamed.mid)  # real segments, not copies


@pytest.mark.parametrize("declared_fraction", [None, 0.7, 1.3])
def test_wrong_declared_length_fetches_the_mid_cut_again(
    long_song: tuple[Path, np.ndarray], declared_fraction: float | None
) -> None:
    _, y = long_song
    fetched: list[tuple[int, int]] = []

    def refetch(ranges: list[tuple[int, int]]) -> list[np.ndarray]:
        fetched.extend(ranges)
        return [y[lo:hi] for lo, hi in ranges]

    declared = None if declared_fraction is None else int(len(y) * declared_fraction)
    stream = extract._Stream("wrong length", declared, refetch)
    for start in range(0, len(y), 40_000):
        stream.feed(y[start : start + 40_000])
    features = stream.finish(SR, len(y) / SR)
    # Only the mid segment's cut samples were missing (start: kept; end: the sliding window).
    mid = extract._segment_firsts(len(y))[1]
    assert fetched == extract._edge_ranges(mid, int(extract.SEGMENT_SECONDS * SR))
    _assert_same(features, analyse_signal(y, SR))


def test_refetch_decodes_the_same_samples(long_song: tuple[Path, np.ndarray]) -> None:
    path, y = long_song
    ranges = [(0, 100), (1_500_000, 1_503_000), (len(y) - 10, len(y))]
    for (lo, hi), piece in zip(ranges, extract._refetch(path, ranges), strict=True):
        np.testing.assert_array_equal(piece, y[lo:hi])


def test_chunked_summary_helpers_match_librosa() -> None:
    y = fx.song(200.0, sr=SR, seed=5).astype(np.float32)
    y[: 3 * SR] = 0.0  # silence: the 80 dB floor and amin matter
    n = 1 + len(y) // 512
    assert n > 2 * extract.SUMMARY_CHUNK_FRAMES  # several chunks
    features, _ = extract._stft_frames(y, 0, n)
    frames = extract.FrameFeatures(
        **extract._stored(features), chroma=np.zeros((12, n), np.uint16), n_samples=len(y)
    )
    log_mel = librosa.power_to_db(features["mel_power"])
    onset, mfcc = extract._onset_and_mfcc(frames)
    np.testing.assert_array_equal(onset, librosa.onset.onset_strength(S=log_mel, sr=SR))
    np.testing.assert_allclose(mfcc, librosa.feature.mfcc(S=log_mel, n_mfcc=20), atol=1e-4)
    assert frames.mel_db_high.size == 0  # let go
    chroma = librosa.feature.chroma_stft(y=y, sr=SR)
    np.testing.assert_allclose(
        extract._tonnetz(chroma), librosa.feature.tonnetz(chroma=chroma, sr=SR), atol=1e-6
    )

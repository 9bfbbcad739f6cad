"""Decoding: formats, down-mix and resampling, content hash, and one reason code per bad input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import av
import librosa
import mediafile
import numpy as np
import pytest

from beetsplug._dspipeline.sonic.decode import AnalysisError, BlockDecoder, audio_hash, decode
from beetsplug._dspipeline.sonic.extract import analyse_file, analyse_signal
from tests import audio_fixtures as fx

FORMATS = ("wav", "flac", "ogg", "mp3")


@pytest.mark.parametrize("ext", FORMATS)
def test_decode_formats_to_mono_22050(tmp_path: Path, ext: str) -> None:
    path = fx.write(tmp_path / f"tone.{ext}", fx.stereo(fx.chord([9], 3.0)))
    audio = decode(path)
    assert audio.source_sample_rate == fx.SR
    assert audio.y.dtype == np.float32 and audio.y.ndim == 1
    assert audio.duration == pytest.approx(3.0, abs=0.06)
    assert len(audio.y) == pytest.approx(3.0 * 22050, abs=0.06 * 22050)
    # The tone is an A (440 Hz fundamental): the spectrum peaks there after resampling.
    spectrum = np.abs(np.fft.rfft(audio.y))
    assert np.fft.rfftfreq(len(audio.y), 1 / 22050)[np.argmax(spectrum)] == pytest.approx(440, 2)


@pytest.mark.parametrize(
    ("name", "sr", "make"),
    [
        ("song.flac", fx.SR, lambda sr: fx.stereo(fx.song(4.0, sr=sr))),
        # 8 kHz: a non-integer ratio, and nothing above 4 kHz for the resampler to invent
        # (FFmpeg's own resampler moved such files' vectors: issue 11 item 8).
        ("phone.wav", 8000, lambda sr: fx.song(7.31, sr=sr)),  # ceil(n * ratio) rounds up
        ("video.flac", 48000, lambda sr: fx.stereo(fx.song(3.1, sr=sr))),
    ],
)
def test_decode_matches_librosa_load(tmp_path: Path, name: str, sr: int, make: object) -> None:
    # Same down-mix (channel mean), resampler (soxr HQ) and length rule, streamed in blocks here.
    path = fx.write(tmp_path / name, make(sr), sr=sr)  # type: ignore[operator]
    expected, _ = librosa.load(path, sr=22050, mono=True)
    y = decode(path).y
    assert len(y) == len(expected)
    np.testing.assert_allclose(y, expected, atol=1e-6)


def test_bytes_path_accepted(tmp_path: Path) -> None:
    path = fx.write(tmp_path / "tone.wav", fx.chord([0], 1.5))
    assert audio_hash(bytes(path)) == audio_hash(path) == decode(str(path)).audio_hash


@pytest.mark.parametrize("ext", FORMATS)
def test_hash_survives_tag_edit_and_move(tmp_path: Path, ext: str) -> None:
    path = fx.write(tmp_path / f"song.{ext}", fx.song(3.0))
    before = audio_hash(path)
    tags = mediafile.MediaFile(str(path))
    tags.title = "A different title"
    tags.artist = "Someone Else"
    tags.genre = "Ambient"
    tags.save()
    assert mediafile.MediaFile(str(path)).title == "A different title"
    moved = tmp_path / "elsewhere" / f"renamed.{ext}"
    moved.parent.mkdir()
    shutil.move(path, moved)
    assert audio_hash(moved) == before
    assert decode(moved).audio_hash == before


def test_hash_changes_with_audio(tmp_path: Path) -> None:
    samples = fx.song(3.0)
    original = audio_hash(fx.write(tmp_path / "a.flac", samples))
    louder = audio_hash(fx.write(tmp_path / "b.flac", samples * 0.9))
    one_sample = samples.copy()
    one_sample[1000] += 0.01
    nudged = audio_hash(fx.write(tmp_path / "c.flac", one_sample))
    resampled = audio_hash(fx.write(tmp_path / "d.flac", samples, sr=48000))
    assert len({original, louder, nudged, resampled}) == 4


def _reason(path: Path) -> str:
    with pytest.raises(AnalysisError) as info:
        analyse_file(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return info.value.reason


def test_missing_and_empty_and_directory(tmp_path: Path) -> None:
    assert _reason(tmp_path / "nope.flac") == "missing"
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    assert _reason(empty) == "empty"
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    assert _reason(folder) == "unreadable"


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_corrupt(tmp_path: Path, ext: str) -> None:
    assert _reason(fx.corrupt_file(tmp_path / f"junk.{ext}")) == "corrupt"


@pytest.mark.parametrize("ext", ["wav", "flac", "mp3"])
def test_truncated(tmp_path: Path, ext: str) -> None:
    whole = fx.write(tmp_path / f"whole.{ext}", fx.song(6.0))
    assert _reason(fx.truncated_copy(whole, tmp_path / f"cut.{ext}")) == "truncated"


def test_unsupported_and_no_decoder(tmp_path: Path) -> None:
    assert _reason(fx.corrupt_file(tmp_path / "notes.txt")) == "unsupported"
    # A WAV whose format tag names a codec FFmpeg does not know: the container opens, the
    # stream has no decoder.
    wav = fx.write(tmp_path / "tone.wav", fx.chord([0], 2.0))
    data = bytearray(wav.read_bytes())
    fmt = data.index(b"fmt ") + 8
    data[fmt : fmt + 2] = (0x1234).to_bytes(2, "little")
    wav.write_bytes(bytes(data))
    assert _reason(wav) == "no_decoder"


def test_too_short_and_silent(tmp_path: Path) -> None:
    assert _reason(fx.write(tmp_path / "tiny.wav", fx.chord([0], 0.3))) == "too_short"
    assert _reason(fx.write(tmp_path / "silence.flac", np.zeros(5 * fx.SR))) == "silent"


# Every format FFmpeg's encoders in the PyAV wheel can write (tests/audio_fixtures.ENCODINGS).
ENCODED = {
    "aac": "m4a",
    "alac": "m4a",
    "mp3": "mp3",
    "vorbis": "ogg",
    "opus": "opus",
    "flac": "flac",
    "wav": "wav",
    "aiff": "aiff",
    "wma": "wma",
}


def _encoded(tmp_path: Path, codec: str, samples: np.ndarray, name: str = "song") -> Path:
    try:
        return fx.encode(tmp_path / f"{name}-{codec}.{ENCODED[codec]}", samples, codec)
    except (av.error.FFmpegError, av.codec.codec.UnknownCodecError) as exc:
        pytest.skip(f"the PyAV wheel cannot encode {codec}: {exc}")


@pytest.mark.parametrize("codec", ENCODED)
def test_every_format_decodes_whole(tmp_path: Path, codec: str) -> None:
    path = _encoded(tmp_path, codec, fx.stereo(fx.chord([9], 6.0)))
    audio = decode(path)
    assert audio.source_sample_rate == (48000 if codec == "opus" else fx.SR)
    assert audio.duration == pytest.approx(6.0, abs=0.06)
    assert len(audio.y) == pytest.approx(6.0 * 22050, abs=0.06 * 22050)
    spectrum = np.abs(np.fft.rfft(audio.y))
    assert np.fft.rfftfreq(len(audio.y), 1 / 22050)[np.argmax(spectrum)] == pytest.approx(440, 2)
    assert audio_hash(path) == audio.audio_hash


@pytest.mark.parametrize("codec", ENCODED)
def test_cut_at_half_is_truncated_in_every_format(tmp_path: Path, codec: str) -> None:
    whole = _encoded(tmp_path, codec, fx.stereo(fx.song(20.0)))
    assert decode(whole).duration == pytest.approx(20.0, abs=0.1)  # complete: not truncated
    cut = fx.truncated_copy(whole, tmp_path / f"cut-{whole.name}")
    assert _reason(cut) == "truncated"


def _quiet_then_loud(seconds: float = 60.0) -> np.ndarray:
    """30 s of silence, then noisy music: a variable bit rate's first frames are its smallest."""
    loud = fx.song(seconds, bpm=120.0, seed=3)
    loud = loud + 0.3 * np.random.default_rng(0).standard_normal(len(loud))
    return fx.stereo(np.concatenate([np.zeros(30 * fx.SR), loud]))


@pytest.mark.parametrize(
    ("codec", "options"),
    [
        ("mp3", {"muxer_options": {"write_xing": "0"}, "vbr_quality": 0}),  # no length header
        ("aac", {"container": "adts"}),  # raw AAC: no length field at all
    ],
)
def test_a_length_estimated_from_the_bit_rate_is_not_a_truncation(
    tmp_path: Path, codec: str, options: dict[str, Any]
) -> None:
    """FFmpeg estimates these files' length from their first frames' bit rate, several times
    too long here: complete files, analysed in full, never reported as cut off."""
    try:
        path = fx.encode(tmp_path / f"vbr.{codec}", _quiet_then_loud(), codec, **options)
    except (av.error.FFmpegError, av.codec.codec.UnknownCodecError) as exc:
        pytest.skip(f"the PyAV wheel cannot encode {codec}: {exc}")
    with BlockDecoder(path) as decoder:
        assert decoder.declared_seconds is not None and decoder.declared_seconds > 150
        assert not decoder.length_is_stated
    audio = decode(path)
    assert audio.duration == pytest.approx(90.0, abs=0.2)
    # The segment cuts planned from the wrong length are decoded again: the streamed analysis
    # equals the whole decoded signal's.
    streamed = analyse_file(path)
    whole = analyse_signal(audio.y, 22050)
    for field in ("full", "start", "mid", "end"):
        np.testing.assert_array_equal(getattr(streamed, field), getattr(whole, field), field)


def test_a_vbr_mp3_with_its_length_header_is_still_checked(tmp_path: Path) -> None:
    whole = fx.encode(tmp_path / "vbr.mp3", _quiet_then_loud(20.0), "mp3", vbr_quality=0)
    with BlockDecoder(whole) as decoder:
        assert decoder.length_is_stated
        assert decoder.declared_seconds == pytest.approx(50.0, abs=0.1)
    assert _reason(fx.truncated_copy(whole, tmp_path / "cut.mp3")) == "truncated"


def test_lossless_formats_decode_to_the_same_samples(tmp_path: Path) -> None:
    samples = fx.stereo(fx.song(5.0))
    decoded = {c: decode(_encoded(tmp_path, c, samples)) for c in ("wav", "flac", "alac", "aiff")}
    reference = decoded["wav"]
    for codec, audio in decoded.items():
        np.testing.assert_array_equal(audio.y, reference.y, err_msg=codec)
        assert audio.audio_hash == reference.audio_hash, codec


def test_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    # beets stores paths as bytes; os.fsdecode turns undecodable bytes into surrogates.
    good = fx.write(tmp_path / "a.ogg", fx.song(3.0))
    raw = os.path.join(os.fsencode(tmp_path), b"b\xff.ogg")
    shutil.copyfile(good, raw)
    expected = decode(good)
    for path in (raw, os.fsdecode(raw), Path(os.fsdecode(raw))):
        assert decode(path).audio_hash == expected.audio_hash
    # Failure messages show the byte as \xff and are valid UTF-8 (they get printed and stored).
    with open(raw, "wb") as handle:
        handle.write(b"\0" * 10)
    with pytest.raises(AnalysisError) as info:
        decode(raw)
    assert info.value.reason == "corrupt"
    assert "b\\xff.ogg" in info.value.message
    info.value.message.encode("utf-8")
    with pytest.raises(AnalysisError) as info:
        decode(os.path.join(os.fsencode(tmp_path), b"gone\xfe.flac"))
    assert info.value.reason == "missing" and "gone\\xfe.flac" in str(info.value)


@pytest.mark.parametrize("codec", ["flac", "mp3", "aac"])
def test_damage_inside_a_complete_file_costs_only_the_damaged_packets(
    tmp_path: Path, codec: str
) -> None:
    path = _encoded(tmp_path, codec, fx.stereo(fx.song(20.0)))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = np.random.default_rng(5).bytes(3000)
    path.write_bytes(bytes(data))
    assert decode(path).duration == pytest.approx(20.0, abs=0.5)

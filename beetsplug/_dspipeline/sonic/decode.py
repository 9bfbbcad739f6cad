"""Decode audio files once: mono float32 at 22050 Hz plus a content hash of the decoded PCM.

libsndfile (via soundfile) reads wav/flac/ogg/mp3 and friends; anything else goes through
audioread when it is installed and has a real backend (ffmpeg, GStreamer, ...). Decoding streams
in blocks, so a long stereo 44.1 kHz file never sits in memory at its source rate.
"""

from __future__ import annotations

import hashlib
import os
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from .layout import SAMPLE_RATE

AudioPath = str | bytes | os.PathLike[str]  # beets hands out bytes paths
BLOCK_FRAMES = 1 << 16
# Extensions libsndfile reads: a file with one of these that it cannot open is corrupt.
SNDFILE_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc", ".au"}
    | {".snd", ".caf", ".w64", ".rf64", ".voc"}
)
# Audio formats that need an external decoder (audioread + ffmpeg/GStreamer).
OTHER_AUDIO_EXTENSIONS = frozenset(
    {".m4a", ".m4b", ".mp4", ".aac", ".alac", ".wma", ".asf", ".ape", ".wv", ".mpc", ".webm"}
    | {".mka", ".mp2", ".ac3", ".dsf", ".tta"}
)
# Decoded length may fall short of the header's by this fraction before we call it truncated
# (MP3 frame counts are estimates; encoder padding is trimmed).
TRUNCATION_TOLERANCE = 0.02


class AnalysisError(Exception):
    """A file (or signal) that cannot be analysed: `reason` is a short machine code.

    Codes: missing, unreadable, empty, corrupt, truncated, unsupported, no_decoder, too_short,
    silent, internal.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded audio: `y` (n,) float32 mono at 22050 Hz; `duration` in seconds of the source."""

    y: np.ndarray
    source_sample_rate: int
    duration: float
    audio_hash: str


@dataclass
class _Stream:
    """PCM blocks of one file, (frames, channels) float32, with its format facts."""

    blocks: Iterator[np.ndarray]
    sample_rate: int
    channels: int
    expected_frames: int = 0  # the header's frame count, when known (sizes the output)


class _Output:
    """Decoded samples written into one preallocated array (no list + concatenate copy)."""

    def __init__(self, expected: int) -> None:
        self._data = np.empty(max(expected, 1), np.float32)
        self._size = 0

    def append(self, chunk: np.ndarray) -> None:
        end = self._size + len(chunk)
        if end > len(self._data):  # header under-stated the length: grow geometrically
            grown = np.empty(max(end, 2 * len(self._data)), np.float32)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : end] = chunk
        self._size = end

    def samples(self) -> np.ndarray:
        return self._data[: self._size]


def decode(path: AudioPath) -> DecodedAudio:
    """Decode `path` to mono float32 at 22050 Hz (soxr HQ), hashing the PCM before resampling."""
    hasher, stream = _open_hashed(path)
    resampler = (
        None
        if stream.sample_rate == SAMPLE_RATE
        else soxr.ResampleStream(stream.sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
    )
    ratio = SAMPLE_RATE / stream.sample_rate
    out = _Output(int(stream.expected_frames * ratio) + 64)
    n_frames = 0
    for block in stream.blocks:
        n_frames += len(block)
        hasher.update(block.tobytes())
        # Same down-mix as librosa.to_mono: plain mean over channels.
        mono = block.mean(axis=1, dtype=np.float32) if stream.channels > 1 else block[:, 0]
        out.append(mono if resampler is None else resampler.resample_chunk(mono))
    if resampler is not None:
        out.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    if n_frames == 0:
        raise AnalysisError("empty", f"{os.fsdecode(path)}: no audio frames")
    return DecodedAudio(
        y=out.samples(),
        source_sample_rate=stream.sample_rate,
        duration=n_frames / stream.sample_rate,
        audio_hash=hasher.hexdigest(),
    )


def audio_hash(path: AudioPath) -> str:
    """Content hash of the decoded PCM (tags and container metadata do not enter it)."""
    hasher, stream = _open_hashed(path)
    n_frames = 0
    for block in stream.blocks:
        n_frames += len(block)
        hasher.update(block.tobytes())
    if n_frames == 0:
        raise AnalysisError("empty", f"{os.fsdecode(path)}: no audio frames")
    return hasher.hexdigest()


def _open_hashed(path: AudioPath) -> tuple[hashlib.blake2b, _Stream]:
    stream = _open(Path(os.fsdecode(path)))
    hasher = hashlib.blake2b(digest_size=16)
    # The format facts are part of the content: same samples at another rate are other audio.
    hasher.update(f"{stream.sample_rate}:{stream.channels}:".encode())
    return hasher, stream


def _open(path: Path) -> _Stream:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise AnalysisError("missing", f"{path}: file not found") from None
    except OSError as exc:
        raise AnalysisError("unreadable", f"{path}: {exc.strerror or exc}") from None
    if path.is_dir():
        raise AnalysisError("unreadable", f"{path}: is a directory")
    if size == 0:
        raise AnalysisError("empty", f"{path}: file is empty (0 bytes)")
    try:
        sound_file = sf.SoundFile(path)
    except sf.LibsndfileError as exc:
        return _open_other(path, _short_sndfile_error(exc))
    except OSError as exc:
        raise AnalysisError("unreadable", f"{path}: {exc.strerror or exc}") from None
    return _Stream(
        _sndfile_blocks(path, sound_file),
        sound_file.samplerate,
        sound_file.channels,
        _declared_frames(path, sound_file),
    )


def _sndfile_blocks(path: Path, sound_file: sf.SoundFile) -> Iterator[np.ndarray]:
    declared = _declared_frames(path, sound_file)
    decoded = 0
    with sound_file:
        while True:
            try:
                block = sound_file.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
            except sf.LibsndfileError as exc:
                reason = "truncated" if decoded else "corrupt"
                seconds = decoded / sound_file.samplerate
                raise AnalysisError(
                    reason, f"{path}: decoding failed after {seconds:.1f} s ({exc.error_string})"
                ) from None
            if len(block) == 0:
                break
            decoded += len(block)
            yield block
    if declared and decoded < declared * (1 - TRUNCATION_TOLERANCE):
        raise AnalysisError(
            "truncated",
            f"{path}: truncated, decoded {decoded} of {declared} frames the header declares",
        )


def _declared_frames(path: Path, sound_file: sf.SoundFile) -> int:
    """Frames the file's header promises (0 when unknown)."""
    if sound_file.format in ("WAV", "WAVEX"):
        # libsndfile silently shortens a cut-off WAV; its header still tells the true length.
        try:
            with wave.open(str(path), "rb") as header:
                return header.getnframes()
        except (wave.Error, EOFError, OSError):
            return 0
    frames = int(sound_file.frames)
    return frames if 0 < frames < (1 << 62) else 0


def _short_sndfile_error(exc: sf.LibsndfileError) -> str:
    return str(exc.error_string).strip().rstrip(".") or "unreadable by libsndfile"


def _open_other(path: Path, sndfile_error: str) -> _Stream:
    """Fallback for formats libsndfile does not read: audioread with a real backend."""
    ext = path.suffix.lower()
    if ext in SNDFILE_EXTENSIONS:
        raise AnalysisError("corrupt", f"{path}: not a valid {ext[1:]} file ({sndfile_error})")
    try:
        import audioread
    except ImportError:
        audioread = None
    if audioread is None:
        return _no_decoder(path, "audioread is not installed")
    try:
        reader = audioread.audio_open(str(path))
    except audioread.NoBackendError:
        # Only the stdlib raw backend present means nothing can decode compressed formats.
        backends = [b.__name__ for b in audioread.available_backends()]
        if backends == ["RawAudioFile"]:
            return _no_decoder(path, "audioread has no decoder backend (install ffmpeg)")
        raise AnalysisError(
            "unsupported", f"{path}: unsupported format (no decoder among {backends})"
        ) from None
    except (audioread.DecodeError, OSError, EOFError) as exc:
        raise AnalysisError("corrupt", f"{path}: cannot decode ({exc})") from None
    return _Stream(_audioread_blocks(path, reader), int(reader.samplerate), int(reader.channels))


def _no_decoder(path: Path, why: str) -> _Stream:
    ext = path.suffix.lower()
    if ext in OTHER_AUDIO_EXTENSIONS:
        raise AnalysisError("no_decoder", f"{path}: no decoder for {ext[1:]} files: {why}")
    raise AnalysisError("unsupported", f"{path}: not a recognised audio file")


def _audioread_blocks(path: Path, reader: object) -> Iterator[np.ndarray]:
    import audioread

    channels = int(reader.channels)  # type: ignore[attr-defined]
    carry = b""
    with reader:  # type: ignore[attr-defined]
        try:
            for buffer in reader:  # type: ignore[attr-defined]
                # audioread yields 16-bit little-endian interleaved PCM in arbitrary-size buffers.
                data = carry + bytes(buffer)
                usable = len(data) - len(data) % (2 * channels)
                carry = data[usable:]
                if usable:
                    pcm = np.frombuffer(data[:usable], dtype="<i2").reshape(-1, channels)
                    yield (pcm.astype(np.float32) / 32768.0).astype(np.float32)
        except (audioread.DecodeError, OSError, EOFError) as exc:
            raise AnalysisError("truncated", f"{path}: decoding failed ({exc})") from None

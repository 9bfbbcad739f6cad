"""Decode audio files once with FFmpeg (PyAV): mono float32 at 22050 Hz plus a content hash.

FFmpeg's libraries ship inside the PyAV wheel, so every format beets imports decodes without an
ffmpeg binary: wav, aiff, flac, alac and aac (m4a), mp3, ogg vorbis and opus, wma, ape, wv, ...
FFmpeg (av.AudioResampler) down-mixes to mono float32 and soxr resamples to 22050 Hz, block by
block: a file never sits in memory at its source rate, and no float64 copy of it is ever made.
BlockDecoder hands the blocks out as they come (an analysis keeps none of the signal); decode()
joins them into the 22050 Hz mono result. soxr rather than FFmpeg's own resampler:
it is as fast here and is what librosa.load uses, so vectors match the reference extractor's
(FFmpeg's resampler moved 8 kHz files' timbre vectors; docs/benchmarks-sonic.md).
"""

from __future__ import annotations

import hashlib
import os
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import soxr

from .layout import SAMPLE_RATE

AudioPath = str | bytes | os.PathLike[str]  # beets hands out bytes paths
# Source samples per resampler call: the per-call overhead of a filter graph push/pull costs
# more than the resampling itself when fed codec-sized frames (128-2048 samples).
BLOCK_SAMPLES = 1 << 16
# FFmpeg's down-mix with its matrix normalised: stereo -> mono is the channel mean
# (librosa.to_mono's rule) instead of FFmpeg's default (L+R)/sqrt(2).
MIX_OPTIONS = {"rematrix_maxval": "1.0"}
# Decoded length may fall short of the declared one by this much before we call it truncated:
# codec priming/padding (AAC, MP3, Opus) and MP3 frame-count estimates.
TRUNCATION_TOLERANCE = 0.02
TRUNCATION_SLACK_SECONDS = 0.25
# Extensions of audio formats: a file with one of these that FFmpeg cannot open is corrupt
# (any other file is just not audio: unsupported).
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".spx", ".mp3", ".mp2", ".aif", ".aiff"}
    | {".aifc", ".au", ".snd", ".caf", ".w64", ".rf64", ".voc", ".m4a", ".m4b", ".mp4", ".aac"}
    | {".alac", ".wma", ".asf", ".ape", ".wv", ".mpc", ".webm", ".mka", ".ac3", ".dsf", ".tta"}
)
_MP4_EXTENSIONS = frozenset({".m4a", ".m4b", ".mp4", ".alac"})


class AnalysisError(Exception):
    """A file (or signal) that cannot be analysed: `reason` is a short machine code.

    Codes: missing, unreadable, empty, corrupt, truncated, unsupported, no_decoder, too_short,
    silent, internal. The message is one line and always valid UTF-8: bytes of a file name
    that are not UTF-8 show as \\xNN (so it can be printed, logged and stored).
    """

    def __init__(self, reason: str, message: str) -> None:
        message = printable(message)
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


def printable(text: str) -> str:
    """`text` with the surrogates of undecodable path bytes (os.fsdecode) shown as \\xNN."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that did not come from a path byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class DecodedAudio:
    """Decoded audio: `y` (n,) float32 mono at 22050 Hz; `duration` in seconds of the source."""

    y: np.ndarray
    source_sample_rate: int
    duration: float
    audio_hash: str


class _Output:
    """Decoded samples written into one preallocated array (no list + concatenate copy).

    Over-allocating costs no memory: pages of np.empty that are never written stay unmapped.
    """

    def __init__(self, expected: int) -> None:
        self._data = np.empty(max(expected, 1), np.float32)
        self._size = 0

    def append(self, chunk: np.ndarray) -> None:
        end = self._size + len(chunk)
        if end > len(self._data):  # the header under-stated the length: grow geometrically
            grown = np.empty(max(end, len(self._data) * 3 // 2), np.float32)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : end] = chunk
        self._size = end

    def samples(self) -> np.ndarray:
        return self._data[: self._size]


class _MonoResampler:
    """Source frames in, mono float32 blocks at SAMPLE_RATE out.

    Each block is down-mixed to mono float32 at the source rate (FFmpeg's mixer, or numpy where
    that gives the same bits: _float_mono); soxr (HQ, the resampler of librosa.load) takes it
    to 22050 Hz in a stream. Frames are gathered in a FIFO and handled BLOCK_SAMPLES at a time.
    A change of rate, format or layout mid-stream (chained OGG, some MP3s) flushes and starts
    afresh, so the output stays one continuous signal.
    """

    def __init__(self) -> None:
        self._params: tuple[str, str, int] | None = None
        self._fifo = av.AudioFifo()
        self._mixer: av.AudioResampler | None = None
        self._soxr: soxr.ResampleStream | None = None
        self._in = self._out = 0

    def push(self, frame: av.AudioFrame) -> list[np.ndarray]:
        """Take one decoded frame; the blocks it completes (mostly none: codec frames are
        small). A list, not a generator: this runs once per frame, 12,000 times in 3 minutes."""
        params = (frame.format.name, frame.layout.name, frame.sample_rate)
        blocks = []
        if params != self._params:
            blocks = self.flush()
            self._params = params
            self._fifo = av.AudioFifo()
            # numpy down-mixes planar float mono and stereo (what most codecs decode to) as
            # FFmpeg's mixer does, at a third of its cost; the mixer takes everything else
            # (other two-channel layouts too: FFmpeg weighs e.g. an LFE channel differently).
            self._mixer = (
                None
                if params[0] == "fltp" and params[1] in ("mono", "stereo")
                else av.AudioResampler(
                    format="flt", layout="mono", rate=frame.sample_rate, options=MIX_OPTIONS
                )
            )
            self._soxr = (
                None
                if frame.sample_rate == SAMPLE_RATE
                else soxr.ResampleStream(
                    frame.sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ"
                )
            )
        frame.pts = None  # the FIFO would insist on gap-free timestamps; a skipped packet is not
        self._fifo.write(frame)
        if self._fifo.samples >= BLOCK_SAMPLES:
            blocks += self._convert(self._fifo.read())
        return blocks

    def flush(self) -> list[np.ndarray]:
        if self._params is None:
            return []
        blocks = self._convert(self._fifo.read()) if self._fifo.samples else []
        blocks += self._convert(None)
        if self._soxr is not None:
            last = self._soxr.resample_chunk(np.zeros(0, np.float32), last=True)
            # librosa.resample's length rule: ceil(n * ratio), zero-padded if soxr gives less.
            wanted = -(-self._in * SAMPLE_RATE // self._params[2]) - self._out
            blocks.append(np.pad(last[: max(wanted, 0)], (0, max(wanted - len(last), 0))))
        self._params, self._in, self._out = None, 0, 0
        return blocks

    def _convert(self, frame: av.AudioFrame | None) -> list[np.ndarray]:
        """Down-mix `frame` (None: the mixer's flush) and resample it."""
        if self._mixer is None:
            monos = [] if frame is None else [_float_mono(frame)]
        else:
            monos = [m.to_ndarray()[0] for m in self._mixer.resample(frame) if m is not None]
        self._in += sum(len(mono) for mono in monos)
        if self._soxr is not None:
            monos = [self._soxr.resample_chunk(mono) for mono in monos]
        self._out += sum(len(block) for block in monos)
        return monos


def _float_mono(frame: av.AudioFrame) -> np.ndarray:
    """A planar float mono or stereo frame as mono float32: the channel mean, which is what
    FFmpeg's mixer (MIX_OPTIONS) gives bit for bit: (L + R) * 0.5, both steps exact but for
    the one rounding of the sum. Read from the frame's planes, without to_ndarray's copy."""
    n = frame.samples
    planes = [np.frombuffer(memoryview(plane), np.float32, n) for plane in frame.planes]
    if len(planes) == 1:
        return planes[0].copy()
    mono = np.add(planes[0], planes[1])
    mono *= np.float32(0.5)
    return mono


def decode(path: AudioPath) -> DecodedAudio:
    """Decode `path` to mono float32 at 22050 Hz; raises AnalysisError (reason codes above)."""
    with BlockDecoder(path) as decoder:
        # Room for a declared length 5 % short; _Output grows beyond that.
        out = _Output(int((decoder.expected_samples() or 0) * 1.05) + SAMPLE_RATE)
        for block in decoder.blocks():
            out.append(block)
        return DecodedAudio(
            y=out.samples(),
            source_sample_rate=decoder.source_sample_rate,
            duration=decoder.duration,
            audio_hash=decoder.audio_hash,
        )


def audio_hash(path: AudioPath) -> str:
    """Content hash of the decoded audio (tags and container metadata do not enter it).

    A full decode, but nothing is kept: the memory of a block, not of the track.
    """
    with BlockDecoder(path) as decoder:
        for _ in decoder.blocks():
            pass
        return decoder.audio_hash


class BlockDecoder:
    """One file decoded block by block: mono float32 blocks at 22050 Hz from `blocks()`.

    Opening checks the file (missing, unreadable, empty, unsupported, no_decoder, corrupt);
    `blocks()` raises corrupt, empty or truncated when the stream ends, after its last block,
    and sets `duration` and `audio_hash` when it ends cleanly. Use as a context manager (the
    container closes on exit, also when the caller stops early).
    """

    def __init__(self, path: AudioPath) -> None:
        self.path = Path(os.fsdecode(path))  # surrogates for undecodable bytes: open() restores
        _check_file(self.path)
        self._container = _open(self.path)
        try:
            if not self._container.streams.audio:
                raise AnalysisError("unsupported", f"{self.path}: no audio stream")
            self._stream = self._container.streams.audio[0]
            if self._stream.codec_context is None:
                raise AnalysisError(
                    "no_decoder", f"{self.path}: FFmpeg has no decoder for its codec"
                )
            rate, channels = self._stream.rate, self._stream.channels
            if rate <= 0 or channels <= 0:  # FFmpeg guessed the format from the name alone
                raise AnalysisError(
                    "corrupt",
                    f"{self.path}: not a valid {self._container.format.name} file "
                    "(no stream parameters)",
                )
        except BaseException:
            self._container.close()
            raise
        self.source_sample_rate: int = rate
        self._channels: int = channels
        # How long the file says it is (None when it does not say); may be wrong (VBR MP3).
        self.declared_seconds = _declared_seconds(self.path, self._container, self._stream)
        # Whether that length is stated by the file, not estimated from its bit rate: only a
        # stated length tells a cut-off file from a complete one.
        self.length_is_stated = _length_is_stated(self.path, self._container.format.name)
        self.duration = 0.0  # seconds of source audio decoded; final once blocks() ends
        self.audio_hash = ""  # set when blocks() ends cleanly

    def __enter__(self) -> BlockDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self._container.close()

    def expected_samples(self) -> int | None:
        """Output samples (at SAMPLE_RATE) the declared length promises; None when undeclared."""
        declared = self.declared_seconds
        return round(declared * SAMPLE_RATE) if declared else None

    def blocks(self) -> Iterator[np.ndarray]:
        fs_path, container, stream = self.path, self._container, self._stream
        hasher = hashlib.blake2b(digest_size=16)
        # The format facts are part of the content: same samples at another rate are other audio.
        hasher.update(f"{self.source_sample_rate}:{self._channels}:".encode())
        mono = _MonoResampler()
        seconds, packets, bad_packets, error = 0.0, 0, 0, ""
        try:
            for packet in container.demux(stream):
                packets += 1
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    # One damaged packet costs its few milliseconds, not the track.
                    bad_packets += 1
                    error = _ffmpeg_error(exc)
                    continue
                for frame in frames:
                    seconds += frame.samples / frame.sample_rate
                    for block in mono.push(frame):
                        hasher.update(block.data)  # the array's own buffer: no bytes copy
                        yield block
        except av.error.FFmpegError as exc:  # the demuxer gave up: the data ends here
            bad_packets += 1
            error = _ffmpeg_error(exc)
        for block in mono.flush():
            hasher.update(block.data)
            yield block
        if seconds == 0:
            if error:
                raise AnalysisError("corrupt", f"{fs_path}: no decodable audio ({error})")
            raise AnalysisError("empty", f"{fs_path}: no audio frames")
        if bad_packets > packets // 2:
            raise AnalysisError(
                "corrupt", f"{fs_path}: {bad_packets} of {packets} packets undecodable ({error})"
            )
        declared = self.declared_seconds if self.length_is_stated else None
        short = declared is not None and seconds < declared * (1 - TRUNCATION_TOLERANCE) - (
            TRUNCATION_SLACK_SECONDS
        )
        if short or _ogg_cut(fs_path, container.format.name):
            if declared is not None and short:
                why = f"decoded {seconds:.1f} s of the {declared:.1f} s its header declares"
            else:
                why = f"decoded {seconds:.1f} s, then the stream ends without its last page"
            raise AnalysisError("truncated", f"{fs_path}: truncated, {why}")
        self.duration = seconds
        self.audio_hash = hasher.hexdigest()


def _check_file(path: Path) -> None:
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


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.PermissionError as exc:
        raise AnalysisError("unreadable", f"{path}: {exc.strerror or exc}") from None
    except av.error.FFmpegError as exc:
        ext = path.suffix.lower()
        if ext in _MP4_EXTENSIONS and _mp4_cut(path):
            raise AnalysisError(
                "truncated", f"{path}: truncated, the file ends inside its data"
            ) from None
        if ext in AUDIO_EXTENSIONS:
            raise AnalysisError(
                "corrupt", f"{path}: not a valid {ext[1:]} file ({_ffmpeg_error(exc)})"
            ) from None
        raise AnalysisError("unsupported", f"{path}: not a recognised audio file") from None


def _ffmpeg_error(exc: av.error.FFmpegError) -> str:
    return str(exc.strerror or exc).strip().rstrip(".")


def _declared_seconds(
    path: Path, container: av.container.InputContainer, stream: av.AudioStream
) -> float | None:
    """How long the file says it is (None when it does not say)."""
    if container.format.name == "wav":
        # FFmpeg clamps a cut-off WAV's length to the bytes present; the header keeps the truth.
        try:
            with wave.open(str(path), "rb") as header:
                return header.getnframes() / header.getframerate()
        except (wave.Error, EOFError, OSError, ZeroDivisionError):
            return None
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration / av.time_base)
    return None


def _length_is_stated(path: Path, format_name: str) -> bool:
    """False where FFmpeg's length is its estimate from the bit rate: raw ADTS AAC, and MP3
    without a Xing/Info/VBRI header. A variable bit rate makes that estimate off by any factor
    (a quiet intro: 374 s estimated for 120 s), so it says nothing about truncation."""
    if format_name == "aac":
        return False
    if format_name != "mp3":
        return True
    from mutagen import MutagenError
    from mutagen.mp3 import MP3, BitrateMode

    try:
        info = MP3(path).info  # type: ignore[no-untyped-call]
    except (MutagenError, OSError):
        return False
    # mutagen knows the bit rate mode only from one of those headers (which state the length).
    return info is not None and info.bitrate_mode is not BitrateMode.UNKNOWN


def _ogg_cut(path: Path, format_name: str) -> bool:
    """An Ogg stream whose last page lacks the end-of-stream flag was cut off.

    Ogg declares no length up front (FFmpeg reads it from the last page present), so the
    length comparison cannot see a cut; the missing end-of-stream page can.
    """
    if format_name != "ogg":
        return False
    from mutagen.ogg import OggPage

    try:
        with open(path, "rb") as handle:
            first = OggPage(handle)  # type: ignore[no-untyped-call]
            last = OggPage.find_last(handle, first.serial)  # type: ignore[no-untyped-call]
    except Exception:  # mutagen raises its own error types for damaged pages
        return True
    return last is None or not last.last


def _mp4_cut(path: Path) -> bool:
    """True when an MP4/M4A file's top-level boxes run past its end (a cut-off download).

    FFmpeg refuses such a file outright when the index ('moov') was to come after the data.
    """
    size = path.stat().st_size
    offset = 0
    try:
        with open(path, "rb") as handle:
            while offset + 8 <= size:
                handle.seek(offset)
                header = handle.read(16)
                box_size = int.from_bytes(header[:4], "big")
                if offset == 0 and header[4:8] != b"ftyp":
                    return False  # not an MP4 at all
                if box_size == 1:  # 64-bit size follows the type
                    box_size = int.from_bytes(header[8:16], "big")
                elif box_size == 0:  # extends to the end of the file
                    return False
                if box_size < 8:
                    return False
                offset += box_size
    except OSError:
        return False
    return offset > size

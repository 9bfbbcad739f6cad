"""Generators that write real audio files with known content (tempo, pitch classes, silence...).

Every writer takes the target path; the format follows its extension (wav, flac, ogg, mp3) and
is written by soundfile/libsndfile; `encode` writes any format with FFmpeg's encoders (PyAV).
Signals are deterministic (seeded noise).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

SR = 44100
_FORMATS = {
    ".wav": {"format": "WAV", "subtype": "PCM_16"},
    ".flac": {"format": "FLAC", "subtype": "PCM_16"},
    ".ogg": {"format": "OGG", "subtype": "VORBIS"},
    ".mp3": {"format": "MP3", "subtype": "MPEG_LAYER_III"},
}


def write(path: Path, samples: np.ndarray, sr: int = SR) -> Path:
    """Write (n,) or (n, channels) float samples to `path` in the format of its extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.clip(samples, -1.0, 1.0), sr, **_FORMATS[path.suffix.lower()])
    return path


FF_QP2LAMBDA = 118  # FFmpeg's scale from a quality value to the codec's global_quality

# Codec, container and bit rate per encoded format (PyAV/FFmpeg names).
ENCODINGS: dict[str, tuple[str, str, int]] = {
    "aac": ("aac", "ipod", 192_000),  # .m4a
    "alac": ("alac", "ipod", 0),  # .m4a
    "mp3": ("libmp3lame", "mp3", 192_000),
    "vorbis": ("vorbis", "ogg", 192_000),  # FFmpeg's own (experimental) Vorbis encoder
    "opus": ("libopus", "ogg", 192_000),  # 48 kHz only
    "flac": ("flac", "flac", 0),
    "wav": ("pcm_s16le", "wav", 0),
    "aiff": ("pcm_s16be", "aiff", 0),
    "wma": ("wmav2", "asf", 192_000),
}


def encode(
    path: Path,
    samples: np.ndarray,
    codec: str,
    sr: int = SR,
    *,
    container: str | None = None,
    muxer_options: dict[str, str] | None = None,
    vbr_quality: int | None = None,
) -> Path:
    """Encode (n,) or (n, channels) float samples with FFmpeg (PyAV) as `codec` (ENCODINGS).

    `container` overrides the codec's usual one (e.g. "adts" for raw AAC), `muxer_options` go to
    the muxer (e.g. {"write_xing": "0"}: an MP3 without its length header) and `vbr_quality`
    asks for variable bit rate at that quality (FFmpeg's -q:a) instead of the fixed bit rate.
    Raises av.error.FFmpegError (or av.codec.codec.UnknownCodecError) when the PyAV wheel lacks
    the encoder.
    """
    name, container_format, bit_rate = ENCODINGS[codec]
    container_format = container or container_format
    data = np.clip(np.asarray(samples, np.float32), -1.0, 1.0)
    data = data[:, None] if data.ndim == 1 else data
    layout = "mono" if data.shape[1] == 1 else "stereo"
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=container_format, options=muxer_options or {}) as out:
        stream = out.add_stream(name, rate=48_000 if codec == "opus" else sr, layout=layout)
        if codec == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}
        if codec == "alac":
            stream.codec_context.format = "s16p"  # 16-bit like the WAV it is compared with
        if vbr_quality is not None:
            stream.codec_context.qscale = True
            stream.codec_context.global_quality = vbr_quality * FF_QP2LAMBDA
        elif bit_rate:
            stream.bit_rate = bit_rate
        context = stream.codec_context
        # The encoder's sample format, rate and frame size.
        convert = av.AudioResampler(
            format=context.format, layout=layout, rate=stream.rate, frame_size=context.frame_size
        )
        for start in range(0, len(data), 8192):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[start : start + 8192].reshape(1, -1)),
                format="flt",
                layout=layout,
            )
            frame.sample_rate, frame.pts, frame.time_base = sr, start, Fraction(1, sr)
            for converted in convert.resample(frame):
                out.mux(stream.encode(converted))
        for converted in convert.resample(None):
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))
    return path


def midi_hz(note: float) -> float:
    return float(440.0 * 2.0 ** ((note - 69) / 12))


def clicks(bpm: float, seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Percussive clicks (decaying noise bursts + a 1 kHz blip) every 60/bpm s; downbeats louder."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    out = np.zeros(n, np.float64)
    burst_len = int(0.04 * sr)
    t = np.arange(burst_len) / sr
    burst = np.exp(-t / 0.008) * (rng.standard_normal(burst_len) + np.sin(2 * np.pi * 1000 * t))
    period = 60.0 / bpm
    for i, start in enumerate(np.arange(0.0, seconds, period)):
        a = int(start * sr)
        b = min(n, a + burst_len)
        out[a:b] += (0.9 if i % 4 == 0 else 0.6) * burst[: b - a]
    return 0.5 * out / np.max(np.abs(out))


def chord(
    pitch_classes: Sequence[int], seconds: float, sr: int = SR, octave: int = 4
) -> np.ndarray:
    """Sustained harmonic tones (3 partials) of the given pitch classes (0 = C) in one octave."""
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for pc in pitch_classes:
        f0 = midi_hz(12 * (octave + 1) + pc)
        for harmonic, amp in ((1, 1.0), (2, 0.4), (3, 0.2)):
            out += amp * np.sin(2 * np.pi * f0 * harmonic * t)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)  # no clicks at the ends
    return 0.6 * out * fade / np.max(np.abs(out))


def drone(seconds: float, sr: int = SR) -> np.ndarray:
    """Beatless pad: a low A with exact harmonics (no beating between partials), long fades."""
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for f, amp in ((55.0, 1.0), (110.0, 0.5), (165.0, 0.3), (220.0, 0.2)):
        out += amp * np.sin(2 * np.pi * f * t)
    envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 2.0)
    return 0.5 * out * envelope / np.max(np.abs(out))


def noise(seconds: float, sr: int = SR, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 0.3 * rng.standard_normal(int(seconds * sr))


def song(seconds: float, bpm: float = 120.0, sr: int = SR, seed: int = 2) -> np.ndarray:
    """A music-like mix: clicks on the beat, a bass line and a chord change every 2 bars."""
    beat = clicks(bpm, seconds, sr, seed)
    progression = ((0, 4, 7), (9, 0, 4), (5, 9, 0), (7, 11, 2))  # C, Am, F, G
    bar = 4 * 60.0 / bpm
    chunks = []
    for i in range(int(np.ceil(seconds / (2 * bar)))):
        pcs = progression[i % len(progression)]
        chunks.append(chord(pcs, 2 * bar, sr) + 0.5 * chord(pcs[:1], 2 * bar, sr, octave=2))
    harmony = np.concatenate(chunks)[: len(beat)]
    rng = np.random.default_rng(seed)
    return 0.5 * beat + 0.4 * harmony + 0.003 * rng.standard_normal(len(beat))


def read_stereo(path: Path, seconds: float) -> np.ndarray:
    """(n, 2) float32 samples at 44.1 kHz: the first ``seconds`` of any file FFmpeg reads."""
    with av.open(str(path)) as container:
        convert = av.AudioResampler(format="flt", layout="stereo", rate=SR)
        blocks: list[np.ndarray] = []
        for frame in container.decode(audio=0):
            blocks.extend(out.to_ndarray().reshape(-1, 2) for out in convert.resample(frame))
            if sum(map(len, blocks)) >= seconds * SR:
                break
    return np.concatenate(blocks)[: int(seconds * SR)]


def stereo(mono: np.ndarray) -> np.ndarray:
    """Two slightly different channels (so a down-mix is not a no-op)."""
    return np.stack([mono, 0.8 * mono], axis=1)


def corrupt_file(path: Path, size: int = 4096, seed: int = 3) -> Path:
    """Random bytes under an audio extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).bytes(size))
    return path


def truncated_copy(source: Path, target: Path, keep: float = 0.5) -> Path:
    """The first `keep` fraction of `source`'s bytes (a cut-off download)."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target

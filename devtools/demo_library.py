"""Generated, tagged music files for the demo and the beets-level tests.

Every track is real audio written to disk (FLAC, MP3, OGG or WAV via libsndfile) and tagged with
mediafile: drums at a known tempo, a bass line and chord pads in a known key, or a beatless drone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from mediafile import MediaFile

SR = 22050
_FORMATS = {"flac": "FLAC", "mp3": "MP3", "ogg": "OGG", "wav": "WAV"}


@dataclass(frozen=True)
class TrackSpec:
    title: str
    bpm: float  # 0 = beatless drone
    root_midi: int  # key of the chords
    seconds: float
    brightness: float = 0.5  # 0 = soft/dark (jazz), 1 = bright/hard (electro)
    artist: str | None = None  # defaults to the album artist


@dataclass(frozen=True)
class AlbumSpec:
    albumartist: str
    album: str
    year: int
    ext: str
    tracks: Sequence[TrackSpec]
    genres: Sequence[str] = ()  # written as tags: a source other than Discogs


def _midi_hz(note: float) -> float:
    return float(440.0 * 2.0 ** ((note - 69) / 12))


def synth_track(spec: TrackSpec, seed: int) -> np.ndarray:
    """Mono float32 at 22050 Hz, peak ≤ 0.9."""
    rng = np.random.default_rng(seed)
    n = int(spec.seconds * SR)
    t = np.arange(n) / SR
    y = np.zeros(n, dtype=np.float64)
    chord = [0, 4, 7] if spec.root_midi % 2 == 0 else [0, 3, 7]  # major / minor triads
    if spec.bpm <= 0:
        # Beatless drone: exact harmonics of one note (no beating between partials), long fades,
        # so the onset envelope stays flat and the beat tracker finds (almost) nothing.
        f0 = _midi_hz(spec.root_midi - 12)
        for k, amp in enumerate((1.0, 0.5, 0.3, 0.2), start=1):
            y += amp * np.sin(2 * np.pi * f0 * k * t)
        y *= np.minimum(1.0, np.minimum(t, t[-1] - t) / 2.0)
        return (0.5 * y / np.max(np.abs(y))).astype(np.float32)
    beat = 60.0 / spec.bpm
    bar_chords = [0, 5, 7, 0] if spec.brightness > 0.4 else [0, 9, 2, 7]
    for b in range(int(spec.seconds / beat)):
        start = int(b * beat * SR)
        # Kick: decaying low sine.
        m = min(int(0.15 * SR), n - start)
        kt = np.arange(m) / SR
        y[start : start + m] += 0.9 * np.sin(2 * np.pi * 55 * kt) * np.exp(-kt * 30)
        # Hi-hat on the off-beat: short noise burst, louder when bright.
        off = start + int(beat * SR / 2)
        if off < n:
            m = min(int(0.04 * SR), n - off)
            y[off : off + m] += (
                (0.1 + 0.4 * spec.brightness)
                * rng.standard_normal(m)
                * np.exp(-np.arange(m) / SR * 120)
            )
        # Chord pad + bass, one chord per bar of four beats.
        if b % 4 == 0:
            root = spec.root_midi + bar_chords[(b // 4) % 4]
            m = min(int(4 * beat * SR), n - start)
            ct = np.arange(m) / SR
            env = np.minimum(1.0, ct / 0.05) * np.exp(-ct * 0.4)
            for iv in chord:
                f = _midi_hz(root + iv)
                tone = np.sin(2 * np.pi * f * ct)
                if spec.brightness > 0.6:  # add harmonics: a brighter, "electronic" timbre
                    tone += 0.5 * np.sign(np.sin(2 * np.pi * f * ct))
                y[start : start + m] += 0.15 * env * tone
            y[start : start + m] += 0.25 * env * np.sin(2 * np.pi * _midi_hz(root - 24) * ct)
    return (0.9 * y / np.max(np.abs(y))).astype(np.float32)


def write_track(path: Path, spec: TrackSpec, album: AlbumSpec, number: int, seed: int) -> Path:
    """Write audio in the album's format and tag it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, synth_track(spec, seed), SR, format=_FORMATS[album.ext])
    tags = MediaFile(path)
    tags.title = spec.title
    tags.artist = spec.artist or album.albumartist
    tags.albumartist = album.albumartist
    tags.album = album.album
    tags.year = album.year
    tags.track = number
    tags.tracktotal = len(album.tracks)
    if album.genres:
        tags.genres = list(album.genres)
    tags.save()
    return path


def write_library(root: Path, albums: Sequence[AlbumSpec]) -> list[Path]:
    """One folder per album under ``root``; returns the written files."""
    paths = []
    seed = 0
    for a_no, album in enumerate(albums):
        folder = root / f"{a_no:02d} {album.albumartist} - {album.album}".replace("/", "_")
        for number, spec in enumerate(album.tracks, start=1):
            seed += 1
            name = f"{number:02d} {spec.title}.{album.ext}".replace("/", "_")
            paths.append(write_track(folder / name, spec, album, number, seed))
    return paths


def demo_albums(seconds: float = 40.0) -> list[AlbumSpec]:
    """The demo library: a deluxe edition, non-ASCII artists, an album Discogs does not know,
    jazz vs electronic timbres, and a beatless ambient piece. Tracks of one album share a key and
    a sound, as albums tend to."""
    s = seconds
    return [
        AlbumSpec(
            "Kraftwerk",
            "Computer World",
            1981,
            "flac",
            [
                TrackSpec("Pocket Calculator", 124, 57, s, 0.9),
                TrackSpec("Numbers", 128, 57, s, 1.0),
                TrackSpec("Computer Love", 120, 57, s, 0.9),
            ],
        ),
        AlbumSpec(
            "Björk",
            "Homogenic",
            1997,
            "ogg",
            [
                TrackSpec("Jóga", 88, 60, s, 0.6),
                TrackSpec("Bachelorette", 92, 60, s, 0.6),
            ],
        ),
        AlbumSpec(
            "坂本龍一",
            "音楽図鑑",
            1984,
            "flac",
            [
                TrackSpec("Tibetan Dance", 110, 64, s, 0.7),
                TrackSpec("M.A.Y. in the Backyard", 0, 53, s, 0.3),
            ],
        ),
        AlbumSpec(
            "Daft Punk",
            "Discovery (Deluxe Edition)",
            2001,
            "mp3",
            [
                TrackSpec("One More Time", 123, 62, s, 0.9),
                TrackSpec("Aerodynamic", 124, 62, s, 0.9),
                TrackSpec("Digital Love", 125, 62, s, 0.8, artist="Daft Punk feat. DJ Sneak"),
            ],
        ),
        AlbumSpec(
            "Miles Davis",
            "Kind of Blue",
            1959,
            "flac",
            [
                TrackSpec("So What", 136, 50, s, 0.2),
                TrackSpec("Blue in Green", 68, 50, s, 0.1),
            ],
            genres=("Jazz",),
        ),
        AlbumSpec(
            "The Nobodies",
            "Garage Tapes",
            2019,
            "wav",
            [
                TrackSpec("Basement", 150, 52, s, 0.6),
                TrackSpec("Feedback", 156, 52, s, 0.6),
            ],
            genres=("Garage Rock", "Indie"),
        ),
        # Not in the demo Discogs catalog either: their genres come from the file tags only.
        AlbumSpec(
            "Cassius",
            "1999",
            1999,
            "flac",
            [
                TrackSpec("Feeling for You", 124, 62, s, 0.85),
                TrackSpec("La Mouche", 126, 62, s, 0.9),
                TrackSpec("Hi Water", 122, 62, s, 0.8),
            ],
            genres=("House", "Electronic"),
        ),
        AlbumSpec(
            "Chet Baker",
            "Chet",
            1959,
            "ogg",
            [
                TrackSpec("Alone Together", 132, 50, s, 0.2),
                TrackSpec("It Never Entered My Mind", 70, 50, s, 0.1),
            ],
            genres=("Jazz", "Cool Jazz"),
        ),
    ]

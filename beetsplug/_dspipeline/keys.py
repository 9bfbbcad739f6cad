"""Stable keys that survive re-import and moved files."""

from __future__ import annotations

import hashlib
import unicodedata


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).lower()


def album_key(albumartist: str, album: str) -> str:
    """Sidecar `album_id`: first 16 hex chars of md5("<albumartist>|<album>"), NFC, lower-cased.

    For plain ASCII names this equals the reference system's key, so its tools read our table.
    """
    return hashlib.md5(f"{_norm(albumartist)}|{_norm(album)}".encode()).hexdigest()[:16]


def artist_name_key(artist: str) -> str:
    """The ``artist`` column of ``artist_genres``: NFC, lower-cased, outer spaces stripped."""
    return _norm(artist).strip()


def track_key(
    albumartist: str, album: str, disc: int, track: int, title: str, mb_releasetrackid: str = ""
) -> str:
    """Artifact `track_id`: the MusicBrainz release-track id when present, else a content key.

    Independent of the beets row id and of the file path, so it is stable across re-imports and
    moves. Returns 16 hex chars.
    """
    basis = (
        mb_releasetrackid or f"{_norm(albumartist)}|{_norm(album)}|{disc}|{track}|{_norm(title)}"
    )
    return hashlib.md5(basis.encode()).hexdigest()[:16]

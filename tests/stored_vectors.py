"""Sonic vectors written into a real sidecar without analysing audio: known clusters, fast.

Through our Sidecar API (the real schema and its triggers), for tests of the commands that read
features (buildartifacts, dsplaylist, dsreport) and of faults around them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from beetsplug._dspipeline.sidecar import FileIdentity, Sidecar, StoredFeatures
from devtools.beets_env import BeetsEnv


def stored_features(key: str, vec: np.ndarray, *, bpm: float = 100.0) -> StoredFeatures:
    """One row of stored features: ``vec`` (137,) for the full track and every segment."""
    vec = np.asarray(vec, dtype=np.float32)
    return StoredFeatures(
        audio_key=key,
        extractor="beat3tower",
        extractor_version="test",
        full=vec,
        start=vec,
        mid=vec,
        end=vec,
        duration=1.0,
        sample_rate=22050,
        n_beats=8,
        beat_fallback=False,
        bpm=bpm,
        tempo_stability=0.9,
        half_tempo_likely=False,
        double_tempo_likely=False,
        analysed_at=0.0,
    )


def store_item_vectors(
    env: BeetsEnv,
    vector_for: Callable[[int, str], np.ndarray],
    *,
    bpm_for: Callable[[int], float] = lambda item_id: 100.0,
) -> dict[int, str]:
    """Store ``vector_for(item id, album artist)`` for every library item, linked to its file
    as an analysis would. Returns item id → album artist."""
    artists = {}
    rows = []
    for line in env.run("ls", "-f", "$id\t$albumartist\t$path").stdout.strip().splitlines():
        item_id, artist, path = line.split("\t")
        artists[int(item_id)] = artist
        st = Path(path).stat()
        ident = FileIdentity(os.fsencode(path), st.st_size, st.st_mtime)
        features = stored_features(
            f"k{item_id}", vector_for(int(item_id), artist), bpm=bpm_for(int(item_id))
        )
        rows.append((int(item_id), ident, features))
    with Sidecar(env.sidecar_path) as sidecar:
        sidecar.store_features_many(rows)
    return artists

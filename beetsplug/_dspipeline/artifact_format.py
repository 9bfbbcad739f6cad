"""The artifact directory's contract: file names, format, required keys, metadata and build state.

The one owner of these rules: the builder, verify, the playlist and the report all read them
here. numpy only (no scipy), so commands that merely read artifacts start quickly.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BUILD_STATE_FILE",
    "DATA_FILE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "GENRE_SIM_FILE",
    "GENRE_SIM_KEYS",
    "LAST_BUILD_REPORT_FILE",
    "PLAYLIST_KEYS",
    "REQUIRED_KEYS",
    "RUN_REPORT_FILE",
    "BuildState",
    "inputs_signature",
    "meta_problem",
    "read_build_state",
    "read_meta",
    "stored_fingerprint",
    "subset_dir",
]

DATA_FILE = "data_matrices_step1.npz"
GENRE_SIM_FILE = "genre_similarity_matrix.npz"
RUN_REPORT_FILE = "analyze_run_report.json"
# The run report of the last call that built something (a no-op call must not hide it).
LAST_BUILD_REPORT_FILE = "last_build_run_report.json"
# What the inputs looked like at the last build: `dsplaylist` compares it to warn when stale.
BUILD_STATE_FILE = "dsp_build_state.json"

FORMAT_NAME = "dspipeline-artifacts"
FORMAT_VERSION = 1

# The keys every playlist tool of the family relies on (../shared/docs/ds-artifacts-format.md).
REQUIRED_KEYS = (
    "track_ids",
    "artist_keys",
    "X_sonic",
    "X_genre_raw",
    "X_genre_smoothed",
    "genre_vocab",
)
# `beet dsplaylist` needs these on top: beets ids and paths, and our fitted embeddings. Our
# builder always writes them, so verify treats a missing one as an error too.
PLAYLIST_KEYS = (
    *REQUIRED_KEYS,
    "item_ids",
    "item_paths",
    "dsp_sonic_embedding",
    "dsp_hybrid_embedding",
    "dsp_meta",
)
GENRE_SIM_KEYS = ("genre_vocab", "cooc", "S")

# Where each file keeps its JSON metadata (a 0-d unicode array).
_META_KEY = {DATA_FILE: "dsp_meta", GENRE_SIM_FILE: "stats"}


def read_meta(path: Path) -> dict[str, Any] | None:
    """The JSON metadata of one of our npz files (``dsp_meta`` or ``stats``); None when the file
    is absent, unreadable or has none. Reads only that member, not the matrices."""
    key = _META_KEY.get(path.name, "dsp_meta")
    try:
        with np.load(path, allow_pickle=False) as data:
            value = json.loads(str(data[key][()]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    return value if isinstance(value, dict) else None


def stored_fingerprint(path: Path) -> str | None:
    """The input fingerprint recorded in one of our npz files (None when absent)."""
    meta = read_meta(path)
    fingerprint = meta.get("fingerprint") if meta else None
    return str(fingerprint) if fingerprint else None


def meta_problem(meta: object) -> str | None:
    """Why ``dsp_meta`` does not describe a file we can read, or None when it does."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        return f"dsp_meta does not describe {FORMAT_NAME!r}"
    if meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("format_version")
        return f"format_version {version!r} unsupported (expected {FORMAT_VERSION})"
    return None


def subset_dir(out_dir: Path, query: list[str] | tuple[str, ...], limit: int | None) -> Path:
    """The folder of a partial build: never the full build's own ``out_dir``.

    ``limit-N`` for ``--limit N``; ``query-<words>-<hash>`` for a query (the hash keeps two
    queries that slug alike apart); both parts for both. ``out_dir`` itself for neither.
    """
    parts = []
    if query:
        text = " ".join(query)
        slug = re.sub(r"[^0-9a-z]+", "-", text.lower()).strip("-")[:40].strip("-") or "q"
        digest = hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        parts.append(f"query-{slug}-{digest}")
    if limit is not None:
        parts.append(f"limit-{limit}")
    return out_dir / "-".join(parts) if parts else out_dir


def inputs_signature(library_signature: str, sidecar_data_version: int) -> str:
    """What a build records and a reader compares: library fields and sidecar contents."""
    return hashlib.sha256(f"{library_signature}|{sidecar_data_version}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class BuildState:
    """What a build saw: the cheap signature of its inputs, and how to rebuild it."""

    inputs_signature: str
    query: list[str]
    limit: int | None

    def rebuild_command(self) -> str:
        words = ["beet", "buildartifacts", *(_shell_word(q) for q in self.query)]
        if self.limit is not None:
            words.append(f"--limit {self.limit}")
        return " ".join(words)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False, sort_keys=True)


def read_build_state(artifacts_dir: Path) -> BuildState | None:
    try:
        raw = json.loads((artifacts_dir / BUILD_STATE_FILE).read_text("utf-8"))
        return BuildState(
            inputs_signature=str(raw["inputs_signature"]),
            query=[str(q) for q in raw.get("query") or []],
            limit=int(raw["limit"]) if raw.get("limit") is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _shell_word(word: str) -> str:
    return word if re.fullmatch(r"[\w:.,/@=+-]+", word) else "'" + word.replace("'", "'\\''") + "'"

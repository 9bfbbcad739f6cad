"""Check a DS artifacts directory: ``data_matrices_step1.npz`` + ``genre_similarity_matrix.npz``.

Errors make the artifacts unusable (missing/unreadable/pickled files, no tracks, duplicate ids,
row mismatches, NaN/inf, zero-norm or non-unit embedding rows, empty artist keys, vocabularies
that do not line up). Warnings flag what still works but deserves a look (stale fingerprint,
smoothing that no longer matches the genre-sim file, low coverage). Big matrices are read one at
a time so the check needs little more memory than the largest of them.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .artifact_format import DATA_FILE, GENRE_SIM_FILE, GENRE_SIM_KEYS, PLAYLIST_KEYS, meta_problem
from .embedding import N_SONIC_FEATURES
from .npzio import ArtifactFileError, read_json_array

__all__ = ["VerifyReport", "verify_artifacts"]

_NOT_PER_TRACK = {"genre_vocab", "sonic_feature_names", "dsp_meta"}
_STRING_KEYS = ("track_ids", "artist_keys", "genre_vocab", "track_artists", "track_titles",
                "item_paths", "album_ids", "sonic_feature_names")  # fmt: skip
_UNIT_ROW_KEYS = (
    "dsp_sonic_embedding",
    "dsp_sonic_embedding_start",
    "dsp_sonic_embedding_end",
    "dsp_hybrid_embedding",
)
_RAW_SONIC_KEYS = ("X_sonic", "X_sonic_start", "X_sonic_mid", "X_sonic_end")
_SMOOTHING_SAMPLE = 2000
_LOW_COVERAGE = 0.5


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_artifacts`; ``stats`` holds counts and coverage shares."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def summary_lines(self) -> list[str]:
        """Human-readable lines: verdict, sizes, coverage, then each error and warning."""
        verdict = "OK" if self.ok else f"FAILED ({len(self.errors)} errors)"
        lines = [
            f"artifacts {verdict}: {self.stats.get('n_tracks', 0)} tracks, "
            f"{self.stats.get('n_genres', 0)} genres, {len(self.warnings)} warnings"
        ]
        coverage = [
            f"{label} {self.stats[key]:.1%}"
            for label, key in (
                ("genres", "share_with_genres"),
                ("discogs", "share_with_discogs"),
                ("sonic", "share_with_sonic"),
            )
            if self.stats.get(key) is not None
        ]
        if coverage:
            lines.append("coverage: " + ", ".join(coverage))
        if "n_zero_genre_rows" in self.stats:
            lines.append(f"tracks without genres: {self.stats['n_zero_genre_rows']}")
        lines += [f"error: {message}" for message in self.errors]
        lines += [f"warning: {message}" for message in self.warnings]
        return lines


class _Archive:
    """Lazy access to one npz; pickled or broken members become errors naming the file."""

    def __init__(self, path: Path, archive: Any) -> None:
        self.path = path
        self._archive = archive
        self.keys = set(archive.files)

    def get(self, key: str) -> np.ndarray:
        try:
            value: np.ndarray = self._archive[key]
        except ValueError as exc:
            cause = "pickled objects (refused)" if "allow_pickle" in str(exc) else str(exc)
            raise ArtifactFileError(f"{self.path}: '{key}' unreadable: {cause}") from None
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise ArtifactFileError(f"{self.path}: '{key}' unreadable: {exc}") from None
        return value


@contextmanager
def _open(path: Path) -> Iterator[_Archive]:
    if not path.is_file():
        raise ArtifactFileError(f"{path}: file not found")
    if not zipfile.is_zipfile(path):
        raise ArtifactFileError(f"{path}: unreadable (not an npz/zip archive)")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ArtifactFileError(f"{path}: unreadable ({exc})") from None
    with archive:
        yield _Archive(path, archive)


def verify_artifacts(out_dir: Path, *, expected_fingerprint: str | None = None) -> VerifyReport:
    """Check the artifacts in ``out_dir``; never raises for bad content, reports it instead."""
    report = VerifyReport()
    out_dir = Path(out_dir)
    sim_vocab: np.ndarray | None = None
    sim_matrix: np.ndarray | None = None
    try:
        with _open(out_dir / GENRE_SIM_FILE) as sim:
            sim_vocab, sim_matrix = _check_genre_sim(sim, report)
    except ArtifactFileError as exc:
        report.errors.append(str(exc))
    try:
        with _open(out_dir / DATA_FILE) as data:
            _check_matrices(data, report, expected_fingerprint, sim_vocab, sim_matrix)
    except ArtifactFileError as exc:
        report.errors.append(str(exc))
    return report


def _check_genre_sim(
    sim: _Archive, report: VerifyReport
) -> tuple[np.ndarray | None, np.ndarray | None]:
    error = report.errors.append
    missing = [key for key in GENRE_SIM_KEYS if key not in sim.keys]
    if missing:
        error(f"{sim.path}: missing keys {', '.join(missing)}")
        return None, None
    vocab, similarity, cooc = sim.get("genre_vocab"), sim.get("S"), sim.get("cooc")
    if "stats" in sim.keys:
        stats = read_json_array(sim.get("stats"), path=sim.path, key="stats")
        if isinstance(stats, dict) and stats.get("fingerprint"):
            report.stats["genre_sim_fingerprint"] = str(stats["fingerprint"])
    n_genres = len(vocab)
    report.stats["n_genres_similarity"] = n_genres
    if vocab.ndim != 1 or vocab.dtype.kind != "U":
        error(f"{sim.path}: genre_vocab is not a 1-d unicode array")
        return None, None
    if len(np.unique(vocab)) != n_genres:
        error(f"{sim.path}: genre_vocab has duplicate genres")
    for key, matrix in (("S", similarity), ("cooc", cooc)):
        if matrix.shape != (n_genres, n_genres):
            error(f"{sim.path}: {key} has shape {matrix.shape}, expected ({n_genres}, {n_genres})")
            return vocab, None
        if not np.isfinite(matrix).all():
            error(f"{sim.path}: {key} contains NaN or infinite values")
            return vocab, None
        if not np.allclose(matrix, matrix.T, atol=1e-6):
            error(f"{sim.path}: {key} is not symmetric")
    if n_genres and not np.allclose(np.diag(similarity), 1.0, atol=1e-6):
        error(f"{sim.path}: S diagonal is not 1")
    if n_genres and (similarity.min() < -1e-6 or similarity.max() > 1 + 1e-6):
        error(f"{sim.path}: S has values outside [0, 1]")
    return vocab, similarity


def _check_matrices(
    data: _Archive,
    report: VerifyReport,
    expected_fingerprint: str | None,
    sim_vocab: np.ndarray | None,
    sim_matrix: np.ndarray | None,
) -> None:
    error, stats = report.errors.append, report.stats
    path = data.path
    missing = [key for key in PLAYLIST_KEYS if key not in data.keys]
    if missing:
        error(f"{path}: missing keys {', '.join(missing)}")
        return
    meta = _check_meta(data, report, expected_fingerprint)

    track_ids = data.get("track_ids")
    n_tracks = track_ids.shape[0] if track_ids.ndim == 1 else 0
    stats["n_tracks"] = n_tracks
    if n_tracks == 0:
        error(f"{path}: no tracks")
        return
    for key in _STRING_KEYS:
        if key in data.keys and data.get(key).dtype.kind != "U":
            error(f"{path}: '{key}' is not a unicode string array")
    unique_ids, id_counts = np.unique(track_ids, return_counts=True)
    if len(unique_ids) != n_tracks:
        duplicates = unique_ids[id_counts > 1]
        error(f"{path}: {len(duplicates)} duplicate track ids (e.g. {str(duplicates[0])!r})")
    n_empty = int(np.count_nonzero(np.char.str_len(np.char.strip(data.get("artist_keys"))) == 0))
    if n_empty:
        error(f"{path}: {n_empty} empty artist keys")

    vocab = data.get("genre_vocab")
    n_genres = vocab.shape[0]
    stats["n_genres"] = n_genres
    if len(np.unique(vocab)) != n_genres:
        error(f"{path}: genre_vocab has duplicate genres")
    widths: dict[str, int] = {}
    for key in sorted(data.keys - _NOT_PER_TRACK):
        matrix = data.get(key)
        if matrix.shape[:1] != (n_tracks,):
            rows = matrix.shape[0] if matrix.ndim else "no"
            error(f"{path}: '{key}' has {rows} rows, expected {n_tracks}")
            continue
        if matrix.ndim == 2:
            widths[key] = matrix.shape[1]
        if matrix.dtype.kind == "f":
            _check_float_matrix(path, key, matrix, report)
    _check_widths(path, widths, n_genres, report)
    _check_coverage(data, report, meta, n_tracks)
    if sim_vocab is not None:
        _check_vocab_alignment(data, vocab, sim_vocab, sim_matrix, report)


def _check_meta(
    data: _Archive, report: VerifyReport, expected_fingerprint: str | None
) -> dict[str, Any]:
    try:
        meta = read_json_array(data.get("dsp_meta"), path=data.path, key="dsp_meta")
    except ArtifactFileError as exc:
        report.errors.append(str(exc))
        return {}
    problem = meta_problem(meta)
    if problem is not None:
        report.errors.append(f"{data.path}: {problem}")
        return {}
    fingerprint = meta.get("fingerprint")
    report.stats["fingerprint"] = fingerprint
    # The two files are one pair: the artifacts record the genre-sim build they were made with.
    paired = meta.get("genre_sim_fingerprint")
    sim_fingerprint = report.stats.get("genre_sim_fingerprint")
    if paired and sim_fingerprint and paired != sim_fingerprint:
        report.errors.append(
            f"{data.path}: built with another {GENRE_SIM_FILE} (genre-sim fingerprint "
            f"{paired!r}, the file beside it has {sim_fingerprint!r}); rebuild both"
        )
    report.stats["limit"] = meta.get("limit")
    if expected_fingerprint is not None and fingerprint != expected_fingerprint:
        report.warnings.append(
            f"{data.path}: stale artifact (fingerprint {fingerprint!r} differs from the current "
            "inputs; rebuild)"
        )
    return dict(meta)


def _check_float_matrix(path: Path, key: str, matrix: np.ndarray, report: VerifyReport) -> None:
    error = report.errors.append
    if matrix.dtype != np.float32:
        error(f"{path}: '{key}' is {matrix.dtype}, expected float32")
    bad_rows = int(np.count_nonzero(~np.isfinite(matrix).reshape(len(matrix), -1).all(axis=1)))
    if bad_rows:
        error(f"{path}: '{key}' has NaN or infinite values in {bad_rows} rows")
        return
    if key in _UNIT_ROW_KEYS and matrix.ndim == 2:
        norms = np.linalg.norm(matrix, axis=1)
        n_zero = int(np.count_nonzero(norms < 1e-6))
        if n_zero:
            error(f"{path}: '{key}' has {n_zero} zero-norm rows")
        elif not np.allclose(norms, 1.0, atol=1e-3):
            error(f"{path}: '{key}' rows are not L2-normalised")
    if key == "X_genre_raw" and matrix.ndim == 2:
        report.stats["n_zero_genre_rows"] = int(np.count_nonzero(~matrix.any(axis=1)))
        if (matrix < 0).any():
            error(f"{path}: 'X_genre_raw' has negative weights")


def _check_widths(path: Path, widths: dict[str, int], n_genres: int, report: VerifyReport) -> None:
    error = report.errors.append
    for key in _RAW_SONIC_KEYS:
        if key in widths and widths[key] != N_SONIC_FEATURES:
            error(f"{path}: '{key}' has {widths[key]} columns, expected {N_SONIC_FEATURES}")
    for key in ("X_genre_raw", "X_genre_smoothed"):
        if widths.get(key, n_genres) != n_genres:
            error(f"{path}: '{key}' has {widths[key]} columns, genre_vocab has {n_genres}")
    sonic_width = widths.get("dsp_sonic_embedding")
    for key in ("dsp_sonic_embedding_start", "dsp_sonic_embedding_end"):
        if sonic_width is not None and widths.get(key, sonic_width) != sonic_width:
            error(f"{path}: '{key}' has {widths[key]} columns, expected {sonic_width}")
    if {"dsp_sonic_embedding", "dsp_genre_embedding", "dsp_hybrid_embedding"} <= widths.keys():
        expected = widths["dsp_sonic_embedding"] + widths["dsp_genre_embedding"]
        if widths["dsp_hybrid_embedding"] != expected:
            error(
                f"{path}: 'dsp_hybrid_embedding' has {widths['dsp_hybrid_embedding']} columns, "
                f"expected {expected} (sonic + genre)"
            )


def _share(count: int | float, total: int) -> float:
    return float(count) / total if total else 0.0


def _check_coverage(
    data: _Archive, report: VerifyReport, meta: dict[str, Any], n_tracks: int
) -> None:
    stats, warn = report.stats, report.warnings.append
    n_zero = stats.get("n_zero_genre_rows")
    if n_zero is not None:
        stats["share_with_genres"] = _share(n_tracks - n_zero, n_tracks)
    if "has_discogs" in data.keys:
        flags = data.get("has_discogs")
        if flags.shape == (n_tracks,):
            stats["share_with_discogs"] = _share(int(np.count_nonzero(flags)), n_tracks)
    counts = meta.get("counts") if isinstance(meta.get("counts"), dict) else {}
    n_input = counts.get("n_input") if isinstance(counts, dict) else None
    if isinstance(n_input, int) and n_input > 0:
        stats["n_input"] = n_input
        stats["share_with_sonic"] = _share(n_tracks, n_input)
    for key, label in (("share_with_genres", "genres"), ("share_with_sonic", "sonic features")):
        if stats.get(key) is not None and stats[key] < _LOW_COVERAGE:
            warn(f"{data.path}: only {stats[key]:.1%} of tracks have {label}")


def _check_vocab_alignment(
    data: _Archive,
    vocab: np.ndarray,
    sim_vocab: np.ndarray,
    sim_matrix: np.ndarray | None,
    report: VerifyReport,
) -> None:
    names = vocab.tolist()
    index = {str(name): i for i, name in enumerate(sim_vocab.tolist())}
    ours = [i for i, name in enumerate(names) if name in index]
    report.stats["n_genres_in_similarity"] = len(ours)
    if names and index and not ours:
        report.errors.append(
            f"{data.path}: no genre of genre_vocab is in {GENRE_SIM_FILE} "
            "(different genre normalisation?)"
        )
        return
    if sim_matrix is None or not ours:
        return
    # Recompute the smoothing on a sample of rows: a mismatch means the genre-sim file changed.
    raw = data.get("X_genre_raw")
    smoothed = data.get("X_genre_smoothed")
    if raw.shape != smoothed.shape or raw.shape[1] != len(names):
        return
    rows = np.linspace(0, len(raw) - 1, min(len(raw), _SMOOTHING_SAMPLE)).astype(np.int64)
    theirs = [index[names[i]] for i in ours]
    aligned = np.eye(len(names), dtype=np.float64)
    aligned[np.ix_(ours, ours)] = sim_matrix[np.ix_(theirs, theirs)]
    expected = raw[rows].astype(np.float64) @ aligned
    expected /= np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-12)
    if not np.allclose(expected, smoothed[rows], atol=1e-4):
        report.warnings.append(
            f"{data.path}: X_genre_smoothed does not match {GENRE_SIM_FILE} "
            "(genre-sim rebuilt since; rebuild the artifacts)"
        )

"""verify_artifacts: each defect written on purpose is caught; a good build passes."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from beetsplug._dspipeline.artifact_format import DATA_FILE, GENRE_SIM_FILE
from beetsplug._dspipeline.artifacts import build_artifacts
from beetsplug._dspipeline.genre_sim import build_genre_similarity
from beetsplug._dspipeline.npzio import json_array
from beetsplug._dspipeline.verify import verify_artifacts
from devtools.synthetic_library import build_synthetic_artifacts, synthetic_library

Arrays = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def good_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("good")
    build_synthetic_artifacts(out, 300, 30, seed=7)
    return out


@pytest.fixture
def work_dir(good_dir: Path, tmp_path: Path) -> Path:
    for name in (DATA_FILE, GENRE_SIM_FILE):
        shutil.copy(good_dir / name, tmp_path / name)
    return tmp_path


def _rewrite(path: Path, change: Callable[[Arrays], None]) -> None:
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    change(arrays)
    np.savez(path, **arrays)  # deliberately plain np.savez: may contain pickles


def test_good_build_passes(good_dir: Path) -> None:
    report = verify_artifacts(good_dir, expected_fingerprint="synthetic-300-30-7")
    assert report.errors == [] and report.warnings == []
    assert report.ok
    with np.load(good_dir / DATA_FILE, allow_pickle=False) as archive:
        raw = archive["X_genre_raw"]
        has_discogs = archive["has_discogs"]
    assert report.stats["n_tracks"] == 300
    assert report.stats["n_zero_genre_rows"] == int((~raw.any(axis=1)).sum())
    assert report.stats["share_with_discogs"] == pytest.approx(has_discogs.mean())
    assert report.stats["share_with_sonic"] == 1.0
    lines = report.summary_lines()
    assert lines[0].startswith("artifacts OK: 300 tracks")
    assert any(line.startswith("coverage: genres") for line in lines)


def test_stale_fingerprint_is_a_warning(good_dir: Path) -> None:
    report = verify_artifacts(good_dir, expected_fingerprint="something-else")
    assert report.ok
    assert len(report.warnings) == 1 and "stale artifact" in report.warnings[0]
    assert "warning: " in report.summary_lines()[-1]


def _set(key: str, value: Callable[[Arrays], np.ndarray]) -> Callable[[Arrays], None]:
    def change(arrays: Arrays) -> None:
        arrays[key] = value(arrays)

    return change


def _nan_row(arrays: Arrays) -> np.ndarray:
    sonic = arrays["X_sonic"].copy()
    sonic[5, 3] = np.nan
    return sonic


def _zero_row(arrays: Arrays) -> np.ndarray:
    embedding = arrays["dsp_sonic_embedding"].copy()
    embedding[2] = 0.0
    return embedding


def _empty_artist(arrays: Arrays) -> np.ndarray:
    keys = arrays["artist_keys"].copy()
    keys[0] = ""
    return keys


def _duplicate_id(arrays: Arrays) -> np.ndarray:
    ids = arrays["track_ids"].copy()
    ids[1] = ids[0]
    return ids


def _remove(key: str) -> Callable[[Arrays], None]:
    def change(arrays: Arrays) -> None:
        del arrays[key]

    return change


def _no_tracks(arrays: Arrays) -> None:
    for key, value in list(arrays.items()):
        if key not in {"genre_vocab", "sonic_feature_names", "dsp_meta"}:
            arrays[key] = value[:0]


MATRIX_DEFECTS: list[tuple[str, Callable[[Arrays], None], str]] = [
    ("no tracks", _no_tracks, "no tracks"),
    ("duplicate ids", _set("track_ids", _duplicate_id), "1 duplicate track ids"),
    ("row mismatch", _set("X_genre_raw", lambda a: a["X_genre_raw"][:-1]),
     "'X_genre_raw' has 299 rows, expected 300"),
    ("NaN", _set("X_sonic", _nan_row), "'X_sonic' has NaN or infinite values in 1 rows"),
    ("zero-norm", _set("dsp_sonic_embedding", _zero_row), "1 zero-norm rows"),
    ("not unit", _set("dsp_hybrid_embedding", lambda a: a["dsp_hybrid_embedding"] * 2),
     "'dsp_hybrid_embedding' rows are not L2-normalised"),
    ("empty artist", _set("artist_keys", _empty_artist), "1 empty artist keys"),
    ("missing key", _remove("X_genre_smoothed"), "missing keys X_genre_smoothed"),
    ("pickled", _set("dsp_meta", lambda a: np.array({"x": 1}, dtype=object)), "pickled"),
    ("object strings", _set("track_titles", lambda a: a["track_titles"].astype(object)),
     "pickled"),
    ("bytes strings", _set("track_ids", lambda a: a["track_ids"].astype(np.bytes_)),
     "'track_ids' is not a unicode string array"),
    ("float64", _set("X_genre_smoothed", lambda a: a["X_genre_smoothed"].astype(np.float64)),
     "'X_genre_smoothed' is float64"),
    ("sonic width", _set("X_sonic", lambda a: a["X_sonic"][:, :100]),
     "'X_sonic' has 100 columns, expected 137"),
    ("vocab width", _set("genre_vocab", lambda a: a["genre_vocab"][:-1]),
     "'X_genre_raw' has"),
    ("segment width", _set("dsp_sonic_embedding_end", lambda a: a["dsp_sonic_embedding"][:, :5]),
     "'dsp_sonic_embedding_end' has 5 columns"),
    ("bad meta", _set("dsp_meta", lambda a: np.array("{not json")), "not valid JSON"),
    ("foreign meta", _set("dsp_meta", lambda a: json_array({"format": "other"})),
     "does not describe"),
    ("negative genre", _set("X_genre_raw", lambda a: -a["X_genre_raw"]), "negative weights"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"), [d[1:] for d in MATRIX_DEFECTS], ids=[d[0] for d in MATRIX_DEFECTS]
)
def test_matrix_defect_is_an_error(
    work_dir: Path, change: Callable[[Arrays], None], message: str
) -> None:
    _rewrite(work_dir / DATA_FILE, change)
    report = verify_artifacts(work_dir)
    assert not report.ok
    assert any(message in error for error in report.errors), report.errors
    assert all(DATA_FILE in error for error in report.errors)


def _asymmetric(arrays: Arrays) -> np.ndarray:
    similarity = arrays["S"].copy()
    similarity[0, 1] += 0.5
    return similarity


def _renamed_vocab(arrays: Arrays) -> np.ndarray:
    return np.char.upper(arrays["genre_vocab"])


SIM_DEFECTS: list[tuple[str, Callable[[Arrays], None], str]] = [
    ("asymmetric S", _set("S", _asymmetric), "S is not symmetric"),
    ("diagonal", _set("S", lambda a: a["S"] * 0.5), "S diagonal is not 1"),
    ("shape", _set("cooc", lambda a: a["cooc"][:-1]), "cooc has shape"),
    ("nan", _set("S", lambda a: a["S"] * np.nan), "S contains NaN"),
    ("pickled stats", _set("stats", lambda a: np.array({"x": 1}, dtype=object)), "pickled"),
    ("raw vs normalised vocabulary", _set("genre_vocab", _renamed_vocab),
     "no genre of genre_vocab is in genre_similarity_matrix.npz"),
    ("missing key", _remove("S"), "missing keys S"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"), [d[1:] for d in SIM_DEFECTS], ids=[d[0] for d in SIM_DEFECTS]
)
def test_genre_sim_defect_is_an_error(
    work_dir: Path, change: Callable[[Arrays], None], message: str
) -> None:
    _rewrite(work_dir / GENRE_SIM_FILE, change)
    report = verify_artifacts(work_dir)
    assert any(message in error for error in report.errors), report.errors


def test_changed_similarity_is_a_smoothing_warning(work_dir: Path) -> None:
    def change(arrays: Arrays) -> None:
        similarity = arrays["S"].copy()
        similarity[0, 1] = similarity[1, 0] = 0.99
        arrays["S"] = similarity

    _rewrite(work_dir / GENRE_SIM_FILE, change)
    report = verify_artifacts(work_dir)
    assert report.ok
    assert any("X_genre_smoothed does not match" in w for w in report.warnings)


@pytest.mark.parametrize("name", [DATA_FILE, GENRE_SIM_FILE])
def test_missing_and_unreadable_files(work_dir: Path, name: str) -> None:
    (work_dir / name).unlink()
    report = verify_artifacts(work_dir)
    assert f"{work_dir / name}: file not found" in report.errors
    (work_dir / name).write_bytes(b"PK\x03\x04 torn zip")
    report = verify_artifacts(work_dir)
    assert any(f"{name}: unreadable" in error for error in report.errors), report.errors


def test_low_coverage_is_a_warning(work_dir: Path) -> None:
    def drop_genres(arrays: Arrays) -> None:
        for key in ("X_genre_raw", "X_genre_smoothed", "dsp_genre_embedding"):
            arrays[key] = np.zeros_like(arrays[key])

    _rewrite(work_dir / DATA_FILE, drop_genres)
    report = verify_artifacts(work_dir)
    assert report.stats["share_with_genres"] == 0.0
    assert any("only 0.0% of tracks have genres" in w for w in report.warnings)


def test_library_without_any_genre_is_reported(tmp_path: Path) -> None:
    library = synthetic_library(20, 5, seed=2, without_genres=1.0)
    similarity = build_genre_similarity(library.genre_sets())
    similarity.save(tmp_path / GENRE_SIM_FILE)
    meta = {"library": "x", "sidecar": "y", "limit": None}
    build_artifacts(library.tracks, similarity, tmp_path, fingerprint="f", meta=meta)
    report = verify_artifacts(tmp_path)
    assert report.ok
    assert report.stats["n_genres"] == 0 and report.stats["n_zero_genre_rows"] == 20
    assert any("only 0.0% of tracks have genres" in w for w in report.warnings)

"""DS artifact builder: contract, weights, smoothing, embeddings, atomic writes, artist keys."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from beetsplug._dspipeline.artifact_format import DATA_FILE
from beetsplug._dspipeline.artifacts import (
    ArtifactConfig,
    TrackRecord,
    artist_key,
    build_artifacts,
    write_npz_atomic,
)
from beetsplug._dspipeline.embedding import (
    fit_sonic_embedding,
    hybrid_embedding,
    l2_normalise_rows,
    squared_distance_shares,
)
from beetsplug._dspipeline.genre_sim import GenreSimilarity, build_genre_similarity
from beetsplug._dspipeline.npzio import RowBlocks
from devtools.synthetic_library import SyntheticLibrary, synthetic_library

META = {"library": "/lib.db", "sidecar": "/side.db", "limit": None}


@pytest.fixture(scope="module")
def library() -> SyntheticLibrary:
    return synthetic_library(600, 40, seed=3, missing_sonic=0.05, without_genres=0.1)


@pytest.fixture(scope="module")
def built(library: SyntheticLibrary, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("artifacts")
    sim = build_genre_similarity(library.genre_sets())
    build_artifacts(library.tracks, sim, out, fingerprint="fp-1", meta=META)
    return out / DATA_FILE


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _record(
    track_id: str, genres: dict[str, float], full: np.ndarray | None, **kw: object
) -> TrackRecord:
    fields: dict[str, object] = {
        "track_id": track_id, "item_id": int(track_id[1:]), "path": f"/m/{track_id}.flac",
        "artist": f"Artist {track_id}", "title": track_id, "album_id": "a", "genre_weights": genres,
        "has_discogs": False, "bpm": 120.0, "full": full,
    }  # fmt: skip
    fields.update(kw)
    return TrackRecord(**fields)  # type: ignore[arg-type]


def test_contract_keys_shapes_dtypes(built: Path, library: SyntheticLibrary) -> None:
    arrays = _load(built)
    kept = [t for t in library.tracks if t.full is not None]
    n, g = len(kept), arrays["genre_vocab"].shape[0]
    assert arrays["track_ids"].tolist() == [t.track_id for t in kept]
    expected = {
        "X_sonic": (n, 137), "X_sonic_start": (n, 137), "X_sonic_mid": (n, 137),
        "X_sonic_end": (n, 137), "X_genre_raw": (n, g), "X_genre_smoothed": (n, g),
        "bpm_array": (n,), "dsp_sonic_embedding": (n, 32), "dsp_sonic_embedding_start": (n, 32),
        "dsp_sonic_embedding_end": (n, 32), "dsp_genre_embedding": (n, 32),
        "dsp_hybrid_embedding": (n, 64),
    }  # fmt: skip
    for key, shape in expected.items():
        assert arrays[key].shape == shape, key
        assert arrays[key].dtype == np.float32, key
    for key in ("track_ids", "artist_keys", "genre_vocab", "track_artists", "track_titles",
                "item_paths", "album_ids", "sonic_feature_names", "dsp_meta"):  # fmt: skip
        assert arrays[key].dtype.kind == "U", key
    assert arrays["item_ids"].dtype == np.int64
    assert arrays["has_discogs"].dtype == bool
    assert arrays["sonic_feature_names"][19] == "bpm"
    np.testing.assert_array_equal(arrays["X_sonic"], np.stack([t.full for t in kept]))  # type: ignore[misc]


def test_meta_and_counts(built: Path, library: SyntheticLibrary) -> None:
    meta = json.loads(str(_load(built)["dsp_meta"][()]))
    kept = [t for t in library.tracks if t.full is not None]
    assert meta["format"] == "dspipeline-artifacts" and meta["format_version"] == 1
    assert meta["fingerprint"] == "fp-1" and meta["limit"] is None
    assert meta["library"] == "/lib.db" and meta["n_tracks"] == len(kept)
    counts = meta["counts"]
    assert counts["n_without_sonic"] == len(library.tracks) - len(kept) > 0
    assert counts["n_without_genres"] == sum(not t.genre_weights for t in kept) > 0
    assert counts["n_with_discogs"] == sum(t.has_discogs for t in kept)
    assert meta["embedding"]["tower_weights"] == [0.2, 0.5, 0.3]


def test_genre_vocab_and_raw_weights(built: Path, library: SyntheticLibrary) -> None:
    arrays = _load(built)
    kept = [t for t in library.tracks if t.full is not None]
    vocab = arrays["genre_vocab"].tolist()
    counts = [sum(name in t.genre_weights for t in kept) for name in vocab]
    ranked = [(-count, name) for count, name in zip(counts, vocab, strict=True)]
    assert ranked == sorted(ranked)
    column = {name: j for j, name in enumerate(vocab)}
    for row, track in enumerate(kept[:50]):
        expected = np.zeros(len(vocab), np.float32)
        for name, weight in track.genre_weights.items():
            expected[column[name]] = weight
        np.testing.assert_array_equal(arrays["X_genre_raw"][row], expected)


def test_embedding_rows_are_unit_and_shares_match_weights(built: Path) -> None:
    arrays = _load(built)
    for key in ("dsp_sonic_embedding", "dsp_sonic_embedding_start", "dsp_sonic_embedding_end",
                "dsp_hybrid_embedding"):  # fmt: skip
        np.testing.assert_allclose(np.linalg.norm(arrays[key], axis=1), 1.0, atol=1e-5)
    meta = json.loads(str(arrays["dsp_meta"][()]))
    shares = meta["embedding"]["realised_tower_shares"]
    assert [shares[t] for t in ("rhythm", "timbre", "harmony")] == pytest.approx(
        [0.2, 0.5, 0.3], abs=2e-3
    )
    hybrid = squared_distance_shares(
        [arrays["dsp_hybrid_embedding"][:, :32], arrays["dsp_hybrid_embedding"][:, 32:]]
    )
    assert hybrid == pytest.approx([0.6, 0.4], abs=2e-3)
    genre = arrays["dsp_genre_embedding"]
    no_genres = ~arrays["X_genre_raw"].any(axis=1)
    assert no_genres.any() and not genre[no_genres].any()


def test_tower_weights_are_real_distance_shares(library: SyntheticLibrary) -> None:
    features = np.stack([t.full for t in library.tracks if t.full is not None])  # type: ignore[misc]
    for weights in [(0.2, 0.5, 0.3), (0.6, 0.2, 0.2), (1.0, 1.0, 2.0)]:
        config = ArtifactConfig(tower_weights=weights)
        embedding = fit_sonic_embedding(features, config).transform(features)
        towers = np.split(embedding, [8, 24], axis=1)
        expected = [w / sum(weights) for w in weights]
        assert squared_distance_shares(towers) == pytest.approx(expected, abs=2e-3)


def test_hybrid_shares_hold_with_genreless_tracks() -> None:
    rng = np.random.default_rng(4)
    sonic = l2_normalise_rows(rng.normal(size=(500, 6)))
    genre = rng.normal(size=(500, 4))
    genre[:200] = 0.0  # 40 % without genres: row L2 would favour the sonic block
    for weights in [(0.6, 0.4), (0.45, 0.55)]:
        hybrid, shares = hybrid_embedding(sonic, genre, weights)
        assert shares == pytest.approx(list(weights), abs=2e-3)
        assert squared_distance_shares([hybrid[:, :6], hybrid[:, 6:]]) == pytest.approx(shares)
    # Unreachable: pairs of genre-less tracks differ only sonically whatever the scales; the
    # best attempt is returned and its real shares reported.
    _, shares = hybrid_embedding(sonic, genre, (0.05, 0.95))
    assert 0.5 < shares[1] < 0.95


def test_sonic_embedding_is_scale_invariant_and_robust(library: SyntheticLibrary) -> None:
    features = np.stack([t.full for t in library.tracks if t.full is not None]).astype(np.float64)  # type: ignore[misc]
    base = fit_sonic_embedding(features).transform(features)
    rescaled = features.copy()
    rescaled[:, 30] *= 1e4  # a feature measured in other units
    np.testing.assert_allclose(fit_sonic_embedding(rescaled).transform(rescaled), base, atol=1e-4)
    outlier = features.copy()
    outlier[0, 40] = 1e12  # one broken analysis must not reshape everyone else's embedding
    moved = fit_sonic_embedding(outlier).transform(outlier)[1:]
    # Compare similarities, not coordinates: PCA components may swap or flip sign.
    assert np.abs(moved @ moved.T - base[1:] @ base[1:].T).max() < 0.05


def test_sonic_neighbours_share_clusters(built: Path, library: SyntheticLibrary) -> None:
    arrays = _load(built)
    clusters = library.clusters[[t.full is not None for t in library.tracks]]
    embedding = arrays["dsp_sonic_embedding"]
    similarity = embedding @ embedding.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = similarity.argmax(axis=1)
    assert np.mean(clusters[nearest] == clusters) > 0.9


def test_smoothing_hand_example(tmp_path: Path) -> None:
    # S over (rock, jazz); "zeuhl" is not in S, so its column is identity.
    sim = GenreSimilarity(
        vocab=np.array(["rock", "jazz"]),
        cooc=np.array([[3, 1], [1, 2]], np.float32),
        S=np.array([[1.0, 0.25], [0.25, 1.0]], np.float32),
    )
    rng = np.random.default_rng(0)
    tracks = [
        _record("t1", {"rock": 1.0}, rng.normal(size=137)),
        _record("t2", {"rock": 1.0, "jazz": 0.8}, rng.normal(size=137)),
        _record("t3", {"zeuhl": 0.5}, rng.normal(size=137)),
        _record("t4", {}, rng.normal(size=137)),
    ]
    result = build_artifacts(tracks, sim, tmp_path, fingerprint="x", meta=META)
    arrays = _load(result.path)
    assert arrays["genre_vocab"].tolist() == ["rock", "jazz", "zeuhl"]
    expected = np.array(
        [[1.0, 0.25, 0.0], [1.0 + 0.8 * 0.25, 0.25 + 0.8, 0.0], [0.0, 0.0, 0.5], [0, 0, 0]]
    )
    expected = expected / np.maximum(np.linalg.norm(expected, axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(arrays["X_genre_smoothed"], expected, rtol=1e-6)
    assert result.counts["n_genres_in_similarity"] == 2
    assert result.counts["n_without_genres"] == 1


def test_segments_fall_back_to_full(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    start = rng.normal(size=137)
    tracks = [
        _record("t1", {"a": 1.0}, rng.normal(size=137), start=start, end=np.full(137, np.nan)),
        _record("t2", {"a": 1.0}, rng.normal(size=137)),
        _record("t3", {"a": 1.0}, np.full(137, np.inf)),
    ]
    sim = build_genre_similarity([])
    result = build_artifacts(tracks, sim, tmp_path, fingerprint="x", meta=META)
    arrays = _load(result.path)
    np.testing.assert_array_equal(arrays["X_sonic_start"][0], start.astype(np.float32))
    np.testing.assert_array_equal(arrays["X_sonic_end"], arrays["X_sonic"])
    np.testing.assert_array_equal(arrays["X_sonic_mid"], arrays["X_sonic"])
    assert result.counts["n_sonic_nonfinite"] == 1
    assert result.counts["n_segment_fallback"] == 5  # t1 mid+end, t2 start+mid+end


def test_bad_input_errors_name_the_file(tmp_path: Path) -> None:
    sim = build_genre_similarity([])
    vector = np.zeros(137)
    with pytest.raises(ValueError, match=r"/m/t2\.flac: duplicate track id 't1'"):
        build_artifacts([_record("t1", {}, vector), _record("t1", {}, vector, path="/m/t2.flac")],
                        sim, tmp_path, fingerprint="x", meta=META)  # fmt: skip
    with pytest.raises(ValueError, match=r"/m/t1\.flac: full sonic vector has shape \(12,\)"):
        build_artifacts([_record("t1", {}, np.zeros(12))], sim, tmp_path, fingerprint="x",
                        meta=META)  # fmt: skip
    with pytest.raises(ValueError, match="at least 2 tracks with sonic features, got 1 of 2"):
        build_artifacts([_record("t1", {}, vector), _record("t2", {}, None)], sim, tmp_path,
                        fingerprint="x", meta=META)  # fmt: skip
    with pytest.raises(ValueError, match="tower_components"):
        ArtifactConfig(tower_components=(8, 100, 8))


def test_limited_run_does_not_replace_full_artifact(tmp_path: Path) -> None:
    library = synthetic_library(50, 5, seed=2)
    sim = build_genre_similarity(library.genre_sets())
    full = build_artifacts(library.tracks, sim, tmp_path, fingerprint="full", meta=META)
    limited_meta = {**META, "limit": 10}
    with pytest.raises(ValueError, match="refusing to replace a full artifact"):
        build_artifacts(library.tracks[:10], sim, tmp_path, fingerprint="lim", meta=limited_meta)
    assert json.loads(str(_load(full.path)["dsp_meta"][()]))["fingerprint"] == "full"
    replaced = build_artifacts(library.tracks[:10], sim, tmp_path, fingerprint="lim",
                               meta=limited_meta, allow_replace_full=True)  # fmt: skip
    assert replaced.n_tracks == 10


@pytest.mark.parametrize(
    ("artist", "key"),
    [
        ("坂本龍一", "坂本龍一"),
        ("Björk", "björk"),
        ("BJÖRK feat. Thom Yorke", "björk"),
        (unicodedata.normalize("NFD", "Björk"), "björk"),
        ("Sigur Rós ft. Someone", "sigur rós"),
        ("Artist (feat. Guest)", "artist"),
        ("Artist [with Friends]", "artist"),
        ("Artist Featuring Guest", "artist"),
        ("Artist with the Band", "artist"),
        ("DJ One vs. DJ Two", "dj one"),
        ("Daft Punk", "daft punk"),
        ("Simon & Garfunkel", "simon & garfunkel"),
        ("  Spaced   Out  ", "spaced out"),
        ("", "unknown:t9"),
        ("   ", "unknown:t9"),
    ],
)
def test_artist_keys(artist: str, key: str) -> None:
    assert artist_key(artist, "t9") == key


def test_non_ascii_artists_keep_distinct_keys(built: Path) -> None:
    keys = set(_load(built)["artist_keys"].tolist())
    assert {"坂本龍一", "björk", "王菲"} <= keys
    assert not any(k.startswith("unknown:") for k in keys)


def test_write_npz_atomic_refuses_objects_and_roundtrips(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'bad' has dtype object"):
        write_npz_atomic(tmp_path / "x.npz", bad=np.array([{"a": 1}], dtype=object))
    assert not list(tmp_path.iterdir())
    path = write_npz_atomic(tmp_path / "x.npz", a=np.arange(3), s=np.array(["é", "坂"]))
    arrays = _load(path)
    assert arrays["a"].tolist() == [0, 1, 2] and arrays["s"].tolist() == ["é", "坂"]


def test_killed_writer_leaves_old_file_intact(tmp_path: Path) -> None:
    target = tmp_path / "data.npz"
    write_npz_atomic(target, value=np.zeros(10, np.float32))
    writer = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from beetsplug._dspipeline.npzio import write_npz_atomic
        big = np.ones(20_000_000, np.float32)
        while True:
            print("writing", flush=True)
            write_npz_atomic({str(target)!r}, value=big)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", writer], stdout=subprocess.PIPE, cwd=Path(__file__).parents[1]
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"writing\n"
    # Kill while the 80 MB temp file is half written: the crash under test.
    deadline = time.monotonic() + 20
    while not any(p.stat().st_size > 1_000_000 for p in tmp_path.glob(".data.npz.*")):
        assert time.monotonic() < deadline, "writer never started writing"
        time.sleep(0.005)
    process.kill()
    process.wait()
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert leftovers, "the kill should have interrupted a write"
    with np.load(target, allow_pickle=False) as archive:
        value = archive["value"]
    # Either the old content or a complete new one, never a torn file.
    assert value.shape in {(10,), (20_000_000,)}
    assert value.sum() == (0 if value.shape == (10,) else 20_000_000)
    assert all(p.name.startswith(".data.npz.") for p in leftovers)


def test_l2_normalise_rows_keeps_zero_rows() -> None:
    rows = l2_normalise_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, 0.0]])
    assert rows.dtype == np.float32


def test_config_is_recorded(tmp_path: Path) -> None:
    library = synthetic_library(80, 8, seed=5)
    config = dataclasses.replace(ArtifactConfig(), tower_components=(4, 8, 4), genre_components=3)
    result = build_artifacts(library.tracks, build_genre_similarity(library.genre_sets()),
                             tmp_path, config=config, fingerprint="x", meta=META)  # fmt: skip
    arrays = _load(result.path)
    assert arrays["dsp_sonic_embedding"].shape[1] == 16
    assert arrays["dsp_genre_embedding"].shape[1] == 3
    assert result.meta["embedding"]["tower_components"] == [4, 8, 4]  # type: ignore[index]


def test_row_blocks_stream_into_a_normal_npy(tmp_path: Path) -> None:
    matrix = np.arange(30, dtype=np.float32).reshape(10, 3)
    blocks = RowBlocks(
        (10, 3), np.dtype(np.float32), lambda: (matrix[i : i + 4] for i in (0, 4, 8))
    )
    path = write_npz_atomic(tmp_path / "x.npz", m=blocks, other=np.ones(2))
    np.testing.assert_array_equal(_load(path)["m"], matrix)
    short = RowBlocks((11, 3), np.dtype(np.float32), lambda: iter([matrix]))
    with pytest.raises(ValueError, match="'m': blocks gave 10 rows, expected 11"):
        write_npz_atomic(tmp_path / "x.npz", m=short)
    wrong = RowBlocks((10, 3), np.dtype(np.float64), lambda: iter([matrix]))
    with pytest.raises(ValueError, match="does not fit"):
        write_npz_atomic(tmp_path / "x.npz", m=wrong)
    # The failed writes left the earlier file untouched and no temp files behind.
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]
    np.testing.assert_array_equal(_load(path)["m"], matrix)

"""`buildartifacts`, `dsplaylist` and `dsreport` through the real `beet` CLI.

The library is imported from real (short) audio files; sonic vectors are written into the real
sidecar with our Sidecar API (two well separated clusters), so these tests stay fast. The full
chain with real analysis runs in test_end_to_end.py.
"""

from __future__ import annotations

import itertools
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from beetsplug._dspipeline.artifact_format import LAST_BUILD_REPORT_FILE, RUN_REPORT_FILE
from beetsplug._dspipeline.keys import album_key, artist_name_key
from beetsplug._dspipeline.sidecar import Sidecar
from devtools.beets_env import ALL_PLUGINS, BeetsEnv
from devtools.demo_library import AlbumSpec, TrackSpec, write_library
from devtools.discogs_standin import Catalog, StandinServer
from tests.stored_vectors import store_item_vectors

JAZZ = [("Miles Davis", "Kind of Blue"), ("Bill Evans", "Portrait in Jazz"), ("Chet Baker", "Chet")]
TECHNO = [("Jeff Mills", "Waveform Transmission"), ("Björk", "Homogenic"), ("坂本龍一", "音楽図鑑")]


def library_albums() -> list[AlbumSpec]:
    albums = []
    for artist, album in JAZZ + TECHNO:
        tracks = [TrackSpec(f"{album} {n}", 100, 60, 1.0) for n in range(1, 4)]
        albums.append(AlbumSpec(artist, album, 2000, "wav", tracks))
    return albums


def store_cluster_features(env: BeetsEnv) -> dict[int, str]:
    """Jazz tracks near one point, techno tracks near another; returns item id → cluster."""
    rng = np.random.default_rng(0)
    centre = {"jazz": rng.normal(size=137), "techno": rng.normal(size=137) + 3}
    jazz = {a for a, _ in JAZZ}

    def cluster(artist: str) -> str:
        return "jazz" if artist in jazz else "techno"

    artists = store_item_vectors(
        env,
        lambda _, artist: centre[cluster(artist)] + 0.1 * rng.normal(size=137),
        bpm_for=lambda item_id: 100.0 + item_id,
    )
    clusters = {item_id: cluster(artist) for item_id, artist in artists.items()}
    sidecar = Sidecar(env.sidecar_path)
    with sidecar.transaction() as conn:
        for artist, album in JAZZ:
            conn.execute(
                "INSERT INTO album_genres VALUES (?, 'jazz', 'discogs_release')",
                (album_key(artist, album),),
            )
            conn.execute(
                "INSERT INTO album_genres VALUES (?, 'cool jazz', 'discogs_master')",
                (album_key(artist, album),),
            )
        for artist, album in TECHNO:
            conn.execute(
                "INSERT INTO album_genres VALUES (?, 'electronic', 'discogs_release')",
                (album_key(artist, album),),
            )
            conn.execute(
                "INSERT INTO album_genres VALUES (?, 'Techno', 'musicbrainz_release')",
                (album_key(artist, album),),
            )
    sidecar.close()
    return clusters


def _beets_env(root: Path) -> BeetsEnv:
    return BeetsEnv(root, plugins=list(ALL_PLUGINS), settings={"discogsgenres": {"auto": False}})


@pytest.fixture(scope="module")
def library_snapshot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[int, str]]:
    """The imported library with its vectors, built once: (its root, a copy, item clusters).

    Every test gets the library back at the same root (the library and the sidecar hold
    absolute paths), restored from the copy: one import for the module instead of one a test.
    """
    base = tmp_path_factory.mktemp("buildartifacts")
    env = _beets_env(base / "beets")
    write_library(base / "in", library_albums())
    env.run("import", str(base / "in"))
    clusters = store_cluster_features(env)
    shutil.copytree(env.root, base / "snapshot", symlinks=True)
    return env.root, base / "snapshot", clusters


@pytest.fixture
def env(library_snapshot: tuple[Path, Path, dict[int, str]]) -> BeetsEnv:
    root, snapshot, clusters = library_snapshot
    shutil.rmtree(root)
    shutil.copytree(snapshot, root, symlinks=True)
    env = _beets_env(root)
    env.clusters = clusters  # type: ignore[attr-defined]
    return env


BUILD = ("buildartifacts", "--stages", "genre-sim,artifacts,verify")


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_build_writes_loadable_consistent_artifacts(env: BeetsEnv) -> None:
    out = env.run(*BUILD).stdout
    assert "artifacts OK" in out
    data = load(env.out_dir / "data_matrices_step1.npz")
    sim = load(env.out_dir / "genre_similarity_matrix.npz")
    n = len(data["track_ids"])
    assert n == 18 and len(set(data["track_ids"].tolist())) == 18
    assert data["X_sonic"].shape == (18, 137) and data["X_sonic"].dtype == np.float32
    assert list(data["genre_vocab"]) == list(sim["genre_vocab"])  # one vocabulary
    assert {"jazz", "cool jazz", "electronic", "techno"} <= set(sim["genre_vocab"].tolist())
    # Non-ASCII artists keep readable, distinct keys.
    keys = set(data["artist_keys"].tolist())
    assert {"björk", "坂本龍一"} <= keys
    assert not any(k.startswith("unknown:") for k in keys)
    report = json.loads((env.out_dir / "analyze_run_report.json").read_text())
    assert [s["name"] for s in report["stages"]] == ["genre-sim", "artifacts", "verify"]
    assert report["ok"] is True


def test_incremental_skip_and_rebuild_after_change(env: BeetsEnv) -> None:
    env.run(*BUILD)
    path = env.out_dir / "data_matrices_step1.npz"
    first = path.stat().st_mtime_ns
    out = env.run(*BUILD).stdout
    assert "genre-sim: up-to-date" in out and "artifacts: up-to-date" in out
    assert path.stat().st_mtime_ns == first
    env.run("modify", "-y", "title:Chet 1", "genres=Bebop")
    out = env.run(*BUILD).stdout
    assert "artifacts: ok" in out
    # docs/artifacts.md: the artifacts keep genres of one track; genre-sim needs min_count 2.
    assert "bebop" in load(path)["genre_vocab"].tolist()
    assert "bebop" not in load(env.out_dir / "genre_similarity_matrix.npz")["genre_vocab"]
    assert path.stat().st_mtime_ns != first


def test_limit_goes_to_its_own_directory(env: BeetsEnv) -> None:
    env.run(*BUILD)
    real = env.out_dir / "data_matrices_step1.npz"
    before = real.read_bytes()
    env.run(*BUILD, "--limit", "5")
    limited = load(env.out_dir / "limit-5" / "data_matrices_step1.npz")
    assert len(limited["track_ids"]) == 5
    assert real.read_bytes() == before


def test_dry_run_writes_nothing(env: BeetsEnv) -> None:
    out = env.run("buildartifacts", "-p").stdout
    assert "Dry run" in out and "artifacts: 18 of 18 tracks" in out
    assert "(would be written)" in out
    assert not env.out_dir.exists()
    env.run(*BUILD)
    out = env.run("buildartifacts", "-p").stdout
    assert "genre_similarity_matrix.npz (up to date)" in out
    assert "data_matrices_step1.npz (up to date)" in out


def test_verify_catches_broken_files_and_exits_non_zero(env: BeetsEnv) -> None:
    env.run(*BUILD)
    path = env.out_dir / "data_matrices_step1.npz"
    data = load(path)
    data["X_sonic"][3, 5] = np.nan
    data["track_ids"][1] = data["track_ids"][0]
    np.savez(path, **data)
    proc = env.run("buildartifacts", "--stages", "verify", check=False)
    assert proc.returncode != 0
    assert "duplicate" in proc.stdout.lower() and "nan" in proc.stdout.lower()
    report = json.loads((env.out_dir / "analyze_run_report.json").read_text())
    assert report["ok"] is False and report["stages"][0]["result"] == "error"


def test_truncated_artifact_is_an_error(env: BeetsEnv) -> None:
    env.run(*BUILD)
    path = env.out_dir / "data_matrices_step1.npz"
    path.write_bytes(path.read_bytes()[:200])
    proc = env.run("buildartifacts", "--stages", "verify", check=False)
    assert proc.returncode != 0 and "data_matrices_step1.npz" in proc.stdout


def test_discogs_without_token_skips_by_default_and_fails_when_named(env: BeetsEnv) -> None:
    named = ("buildartifacts", "--stages", "discogs,genre-sim,artifacts,verify")
    out = env.run(*named, check=False)
    assert out.returncode == 1 and "Discogs token required" in out.stderr
    assert not env.out_dir.exists()  # refused before any stage ran
    assert "would fail: no Discogs token" in env.run(*named, "-p").stdout
    # The default run says it as a skipped stage with its reason, and goes on.
    predicted = env.run("buildartifacts", "-p").stdout
    assert "skipped: no Discogs token" in predicted
    proc = env.run("buildartifacts", "-y")
    assert proc.returncode == 0 and "Discogs token required" not in proc.stderr
    assert "discogs: skipped — no Discogs token" in proc.stdout


def test_discogs_all_lookups_failing_is_exit_1_but_the_pair_is_built(env: BeetsEnv) -> None:
    # Discogs down for the whole run: as `beet discogsgenres`, the status says so; the pair is
    # still built from the genres already stored, and its build state written (no false
    # "changed after" warning), so a user's nightly build is neither silent nor wasted.
    env.run(*BUILD)
    with sqlite3.connect(env.sidecar_path) as conn:  # the techno albums are not looked up yet
        conn.execute(
            "DELETE FROM album_genres WHERE source = 'discogs_release' AND genre = ?",
            ("electronic",),
        )
    with StandinServer(Catalog(), token="tok-secret-55", rate_limit_per_min=1000) as server:
        server.faults.inject("503", times=None)
        env.config["discogsgenres"] = {"base_url": server.base_url, "retries": 0, "timeout": 2}
        env.write_config()
        stages = ("--stages", "discogs,genre-sim,artifacts,verify")
        proc = env.run(
            "buildartifacts", *stages, check=False, env={"DISCOGS_TOKEN": "tok-secret-55"}
        )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in output and "tok-secret-55" not in output
    line = next(x for x in proc.stdout.splitlines() if x.startswith("  discogs:"))
    assert "discogs: error — all 3 lookups failed (first: " in line and "retried next" in line
    assert "  verify: ok" in proc.stdout
    report = json.loads((env.out_dir / RUN_REPORT_FILE).read_text("utf-8"))
    assert report["ok"] is False and report["totals"]["errors"] == 1
    assert json.loads((env.out_dir / LAST_BUILD_REPORT_FILE).read_text("utf-8")) == report
    assert "changed after" not in env.run("dsplaylist", "title:Chet 2").stdout
    assert env.run("buildartifacts", "--stages", "verify").returncode == 0


def test_the_discogs_stage_puts_its_results_onto_the_albums(env: BeetsEnv) -> None:
    # As `beet discogsgenres` does: a looked-up album gets its fields (`beet ls -a
    # discogs_styles:techno`), not only the sidecar rows.
    with sqlite3.connect(env.sidecar_path) as conn:  # the techno albums are not looked up yet
        conn.execute("DELETE FROM album_genres WHERE genre = 'electronic'")
    catalog = Catalog()
    catalog.add_album("Jeff Mills", "Waveform Transmission", 2000, ["Electronic"], ["Techno"])
    with StandinServer(catalog, token="tok-secret-56", rate_limit_per_min=1000) as server:
        env.config["discogsgenres"] = {"base_url": server.base_url, "retries": 0, "timeout": 2}
        env.write_config()
        env.run("buildartifacts", "--stages", "discogs", env={"DISCOGS_TOKEN": "tok-secret-56"})
    found = env.run(
        "ls", "-a", "-f", "$albumartist|$discogs_genres|$discogs_styles", "discogs_styles::."
    )
    assert found.stdout.strip() == "Jeff Mills|electronic|techno"


def test_the_adapter_names_the_pipeline_stages() -> None:
    from beetsplug._dspipeline.pipeline import STAGES
    from beetsplug.buildartifacts import STAGE_NAMES

    assert STAGE_NAMES == STAGES


def test_unknown_stage_is_refused(env: BeetsEnv) -> None:
    proc = env.run("buildartifacts", "--stages", "sonic,bogus", check=False)
    assert proc.returncode != 0 and "bogus" in proc.stderr


def test_playlist_from_a_jazz_seed_stays_jazz(env: BeetsEnv, tmp_path: Path) -> None:
    env.run(*BUILD)
    m3u = tmp_path / "list.m3u"
    out = env.run(
        "dsplaylist", "title:Kind of Blue 1", "-n", "8", "--strict", "-o", str(m3u)
    ).stdout
    written = int(out.split("Wrote ")[1].split()[0])
    assert written < 8 and f"{written} of 8 tracks (dynamic)" in out and "--strict" in out
    lines = m3u.read_text("utf-8").splitlines()
    assert lines[0] == "#EXTM3U"
    paths = [line for line in lines if not line.startswith("#")]
    assert 2 <= len(paths) <= 8 and "Kind of Blue 1" in paths[0]
    assert all(Path(p).exists() for p in paths)
    artists = [
        line.split(",", 1)[1].split(" - ")[0] for line in lines if line.startswith("#EXTINF")
    ]
    assert set(artists) <= {a for a, _ in JAZZ}
    assert all(a != b for a, b in itertools.pairwise(artists))


def test_playlist_messages(env: BeetsEnv) -> None:
    proc = env.run("dsplaylist", "title:Kind of Blue 1", check=False)
    assert proc.returncode != 0 and "beet buildartifacts" in proc.stderr
    env.run(*BUILD)
    proc = env.run("dsplaylist", "title:nothing-like-this", check=False)
    assert proc.returncode != 0 and "matched no tracks" in proc.stderr
    out = env.run("dsplaylist", "title:Homogenic 2", "-p", "-n", "4").stdout
    assert out.splitlines()[0].startswith("* Björk – Homogenic 2 – ")


def test_report_is_written_and_matches_the_sidecar(env: BeetsEnv) -> None:
    pytest.importorskip("matplotlib")
    env.run(*BUILD)
    out = env.run("dsreport").stdout
    path = Path(out.strip().split("Report: ")[1])
    html = path.read_text("utf-8")
    assert html.count("data:image/png;base64,") >= 3
    with sqlite3.connect(env.sidecar_path) as conn:
        n_features = conn.execute("SELECT COUNT(*) FROM sonic_files").fetchone()[0]
    assert f'<td data-key="tracks_with_sonic">{n_features}</td>' in html
    assert '<td data-key="n_tracks">18</td>' in html
    assert '<td data-key="tracks_without_genre">0</td>' in html  # every album has genres
    # 9 jazz tracks carry the Discogs genre "jazz"; 9 techno tracks "electronic".
    assert '<td data-key="genre-name">jazz</td><td data-key="genre-count">9</td>' in html
    assert '<td data-key="style-name">cool jazz</td><td data-key="style-count">9</td>' in html


def test_new_tracks_after_the_build_are_reported(env: BeetsEnv, tmp_path: Path) -> None:
    env.run(*BUILD)
    write_library(
        tmp_path / "new",
        [AlbumSpec("New Artist", "Fresh", 2024, "wav", [TrackSpec("Brand New", 120, 60, 1.0)])],
    )
    env.run("import", str(tmp_path / "new"))
    proc = env.run("dsplaylist", "title:Brand New", check=False)
    assert proc.returncode != 0
    assert "is in the artifacts" in proc.stderr and "beet buildartifacts" in proc.stderr
    assert "changed after the artifacts in" in proc.stdout
    assert "run `beet buildartifacts` to refresh" in proc.stdout
    env.run("sonicanalysis")
    env.run(*BUILD)  # the advice clears the warning
    assert "warning" not in env.run("dsplaylist", "--mode", "discover", "title:Brand New").stdout


def test_no_staleness_warning_right_after_a_build_or_a_failed_lookup(env: BeetsEnv) -> None:
    env.run(*BUILD)
    assert "changed after" not in env.run("dsplaylist", "title:Chet 2").stdout
    with sqlite3.connect(env.sidecar_path) as conn:  # what a network error leaves behind
        conn.execute(
            "INSERT OR REPLACE INTO discogs_lookups(album_id, status, error, looked_up_at) "
            "VALUES ('x', 'error', 'timeout', 0)"
        )
    assert "changed after" not in env.run("dsplaylist", "title:Chet 2").stdout
    env.run("modify", "-y", "title:Chet 2", "genres=Hard Bop")
    assert "changed after" in env.run("dsplaylist", "title:Chet 2").stdout


def test_forced_reanalysis_asks_first(env: BeetsEnv) -> None:
    proc = env.run("buildartifacts", "--stages", "sonic", "--force", check=False)
    assert proc.returncode != 0  # no answer on stdin: nothing is re-analysed
    report = json.loads((env.out_dir / "analyze_run_report.json").read_text())
    assert report["stages"][0]["result"] == "error"
    assert "stdin" in report["stages"][0]["message"]
    # --yes: nothing to ask, the track is analysed again (--limit 1 keeps it short).
    env.run("buildartifacts", "--stages", "sonic", "--force", "--yes", "--limit", "1")
    report = json.loads((env.out_dir / "limit-1" / "analyze_run_report.json").read_text())
    assert report["stages"][0]["result"] == "ok", report["stages"][0]


def test_verify_warns_when_the_library_changed_since_the_build(env: BeetsEnv) -> None:
    env.run(*BUILD)
    env.run("modify", "-y", "title:Chet 2", "genres=Hard Bop")
    proc = env.run("buildartifacts", "--stages", "verify")  # warnings keep exit status 0
    assert "stale" in proc.stdout.lower()
    report = json.loads((env.out_dir / "analyze_run_report.json").read_text())
    assert report["stages"][0]["result"] == "warning" and report["ok"] is True


def test_artist_level_genres_weigh_half(env: BeetsEnv) -> None:
    with sqlite3.connect(env.sidecar_path) as conn:
        conn.execute(
            "INSERT INTO artist_genres VALUES (?, 'West Coast Jazz', 'lastfm_artist')",
            (artist_name_key("Chet Baker"),),
        )
    env.run(*BUILD)
    data = load(env.out_dir / "data_matrices_step1.npz")
    column = data["genre_vocab"].tolist().index("west coast jazz")
    weights = {
        artist: float(w)
        for artist, w in zip(data["track_artists"], data["X_genre_raw"][:, column], strict=True)
    }
    assert weights["Chet Baker"] == pytest.approx(0.5)
    assert weights["Miles Davis"] == 0.0


# -- issue 9: a build never damages what it built ------------------------------------------------
def pair_digest(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in ("data_matrices_step1.npz", "genre_similarity_matrix.npz")
    }


def test_a_query_matching_nothing_is_one_line_and_writes_nothing(env: BeetsEnv) -> None:
    env.run(*BUILD)
    before = pair_digest(env.out_dir)
    entries = sorted(p.name for p in env.out_dir.iterdir())
    proc = env.run("buildartifacts", "title:nothingmatches", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip() == (
        "error: buildartifacts: query 'title:nothingmatches' matched no tracks; nothing to build"
    )
    assert pair_digest(env.out_dir) == before
    assert sorted(p.name for p in env.out_dir.iterdir()) == entries  # no subset folder either
    assert "artifacts OK: 18 tracks" in env.run("buildartifacts", "--stages", "verify").stdout


def test_a_query_build_goes_to_its_own_folder(env: BeetsEnv) -> None:
    env.run(*BUILD)
    before = pair_digest(env.out_dir)
    proc = env.run("buildartifacts", "--stages", "genre-sim,artifacts,verify", "album:Chet")
    subsets = [p for p in env.out_dir.iterdir() if p.is_dir() and p.name.startswith("query-")]
    assert len(subsets) == 1 and subsets[0].name.startswith("query-album-chet-")
    assert f"Artifacts: {subsets[0]}" in proc.stdout
    assert len(load(subsets[0] / "data_matrices_step1.npz")["track_ids"]) == 3
    assert pair_digest(env.out_dir) == before  # the full build is untouched
    # A track outside the query is still a seed of the full artifacts.
    assert "Kind of Blue 1" in env.run("dsplaylist", "title:Kind of Blue 1").stdout
    limit = env.run("buildartifacts", "--stages", "genre-sim,artifacts", "--limit", "4")
    assert f"Artifacts: {env.out_dir / 'limit-4'}" in limit.stdout
    assert pair_digest(env.out_dir) == before
    # The readers take a partial build with --artifacts.
    read_subset = ("dsplaylist", "--artifacts", str(subsets[0]), "--mode", "sonic-only")
    subset = env.run(*read_subset, "-n", "10", "title:Chet 1").stdout
    assert "Chet Baker – Chet 1" in subset and "Miles Davis" not in subset
    report = subsets[0] / "report.html"
    env.run("dsreport", "--artifacts", str(subsets[0]), "-o", str(report))
    assert report.is_file() and str(subsets[0]) in report.read_text("utf-8")


def test_too_few_tracks_with_sonic_features_is_an_error_and_keeps_the_pair(env: BeetsEnv) -> None:
    env.run(*BUILD)
    before = pair_digest(env.out_dir)
    with sqlite3.connect(env.sidecar_path) as conn:  # one track keeps its features
        keep = conn.execute("SELECT min(item_id) FROM sonic_files").fetchone()[0]
        conn.execute("DELETE FROM sonic_files WHERE item_id <> ?", (keep,))
    env.run("modify", "-y", "album:Chet", "genres=Bebop")  # the genre-sim would change too
    proc = env.run(*BUILD, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert "the library: 1 of 18 tracks have sonic features, at least 2 are needed" in proc.stdout
    assert pair_digest(env.out_dir) == before
    assert not [p for p in env.out_dir.iterdir() if p.name.startswith(".staging-")]
    dry = env.run(*BUILD, "-p").stdout
    assert "1 of 18 tracks have sonic features" in dry and "would fail" in dry


def test_verify_refuses_a_pair_from_two_builds(env: BeetsEnv, tmp_path: Path) -> None:
    import shutil

    env.run(*BUILD)
    old_sim = tmp_path / "old_sim.npz"
    shutil.copy2(env.out_dir / "genre_similarity_matrix.npz", old_sim)
    env.run("modify", "-y", "album:Chet", "genres=Bebop")
    env.run(*BUILD)
    shutil.copy2(old_sim, env.out_dir / "genre_similarity_matrix.npz")
    proc = env.run("buildartifacts", "--stages", "verify", check=False)
    assert proc.returncode == 1 and "built with another genre_similarity_matrix.npz" in proc.stdout


def test_dry_run_over_existing_data_changes_nothing(env: BeetsEnv) -> None:
    env.run(*BUILD)
    before = pair_digest(env.out_dir)
    sidecar_before = env.sidecar_path.read_bytes()
    env.run("modify", "-y", "album:Chet", "genres=Bebop")
    out = env.run("buildartifacts", "-p").stdout
    assert "genre-sim: 18 tracks" in out and "(would be written)" in out
    assert pair_digest(env.out_dir) == before and env.sidecar_path.read_bytes() == sidecar_before


def test_embedding_settings_reach_the_build(env: BeetsEnv) -> None:
    chosen = {"tower_weights": [0.1, 0.6, 0.3], "tower_components": [3, 5, 2]}
    env.config["buildartifacts"] = {**chosen, "hybrid_weights": [0.7, 0.3]}
    env.write_config()
    env.run(*BUILD)
    data = load(env.out_dir / "data_matrices_step1.npz")
    embedding = json.loads(str(data["dsp_meta"][()]))["embedding"]
    assert {key: embedding[key] for key in chosen} == chosen
    assert embedding["hybrid_weights"] == [0.7, 0.3]
    assert data["dsp_sonic_embedding"].shape == (18, 3 + 5 + 2)

"""`sonicanalysis` end to end: the real `beet` CLI on a real library of generated audio."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from beetsplug._dspipeline.sidecar import Sidecar
from devtools.beets_env import BeetsEnv
from devtools.demo_library import AlbumSpec, TrackSpec, synth_track, write_library

ALBUMS = [
    AlbumSpec(
        "Click Band",
        "Tempo Tests",
        2020,
        "flac",
        [
            TrackSpec("Fast", 128, 60, 8.0, 0.9),
            TrackSpec("Slow", 90, 57, 8.0, 0.5),
        ],
    ),
    AlbumSpec(
        "Drone Band",
        "Ambient Tests",
        2021,
        "flac",
        [
            TrackSpec("Drone", 0, 50, 8.0, 0.2),
        ],
    ),
    AlbumSpec(
        "MP3 Band",
        "Lossy Tests",
        2022,
        "mp3",
        [
            TrackSpec("Lossy", 110, 62, 8.0, 0.7),
        ],
    ),
]


def make_env(tmp_path: Path, **sonic: object) -> BeetsEnv:
    return BeetsEnv(
        tmp_path / "beets",
        plugins=["sonicanalysis"],
        settings={"sonicanalysis": {"workers": 1, **sonic}},
    )


def features(env: BeetsEnv) -> dict[int, np.ndarray]:
    sidecar = Sidecar(env.sidecar_path)
    try:
        return {i: f.full for i, f in sidecar.features_for_items().items()}
    finally:
        sidecar.close()


def failures(env: BeetsEnv) -> dict[str, str]:
    with sqlite3.connect(env.sidecar_path) as conn:
        return {
            Path(p.decode()).name: r
            for p, r in conn.execute("SELECT path, reason FROM sonic_failures")
        }


def failed_at(env: BeetsEnv) -> dict[int, float]:
    with sqlite3.connect(env.sidecar_path) as conn:
        return dict(conn.execute("SELECT item_id, failed_at FROM sonic_failures").fetchall())


def analysed_at(env: BeetsEnv) -> dict[str, float]:
    with sqlite3.connect(env.sidecar_path) as conn:
        return dict(conn.execute("SELECT audio_key, analysed_at FROM sonic_features"))


def analysed_count(out: str) -> int:
    line = next(
        line for line in out.splitlines() if line.startswith("Sonic: ") and "analysed," in line
    )
    return int(line.split()[1])


@pytest.fixture
def env(tmp_path: Path) -> BeetsEnv:
    env = make_env(tmp_path)
    write_library(tmp_path / "in", ALBUMS)
    env.run("import", str(tmp_path / "in"))
    return env


def test_analyses_every_track_sets_bpm_and_skips_next_time(env: BeetsEnv) -> None:
    started = time.monotonic()
    out = env.run("sonicanalysis").stdout
    took = time.monotonic() - started
    assert analysed_count(out) == 4
    # The summary's duration is the run's own: within the time the whole command took.
    summary = next(line for line in out.splitlines() if "analysed," in line)
    assert 0 <= float(summary.rsplit(" in ", 1)[1].removesuffix("s")) <= took + 0.05
    # The first progress line comes at once and counts seconds of audio (the ETA's basis).
    sonic_lines = [line for line in out.splitlines() if line.startswith("Sonic: ")]
    assert sonic_lines[0] == "Sonic: analysing 4 tracks (0.5 min of audio) with 1 worker"
    got = features(env)
    assert len(got) == 4 and all(v.shape == (137,) and np.isfinite(v).all() for v in got.values())
    bpms = dict(
        line.split("\t") for line in env.run("ls", "-f", "$title\t$bpm").stdout.strip().splitlines()
    )
    assert abs(int(bpms["Fast"]) - 128) <= 3 or abs(int(bpms["Fast"]) - 64) <= 2
    out = env.run("sonicanalysis").stdout
    assert analysed_count(out) == 0 and "4 up to date" in out


def test_drone_is_kept_with_the_beat_grid_fallback(env: BeetsEnv) -> None:
    env.run("sonicanalysis")
    sidecar = Sidecar(env.sidecar_path)
    stored = list(sidecar.features_for_items().values())
    sidecar.close()
    fallback = [f for f in stored if f.beat_fallback]
    assert len(fallback) == 1 and fallback[0].n_beats < 4


def test_move_retag_and_reimport_do_not_reanalyse(env: BeetsEnv, tmp_path: Path) -> None:
    env.run("sonicanalysis")
    before = sorted(v.tobytes() for v in features(env).values())
    env.config["paths"] = {"default": "moved/$albumartist/$title"}
    env.write_config()
    env.run("move")
    env.run("modify", "-y", "title:Fast", "comments=retagged")  # rewrites the file's tags
    out = env.run("sonicanalysis").stdout
    assert analysed_count(out) == 0 and "relinked" in out
    # Re-import: remove from the library (files stay) and import the moved files again.
    moved = env.music_dir / "moved"
    copy = tmp_path / "again"
    shutil.copytree(moved, copy)
    env.run("remove", "-f")  # from the library only; files stay
    env.run("import", str(copy))
    out = env.run("sonicanalysis").stdout
    assert analysed_count(out) == 0
    assert sorted(v.tobytes() for v in features(env).values()) == before


def test_changed_audio_is_analysed_again(env: BeetsEnv) -> None:
    env.run("sonicanalysis")
    path = Path(env.run("ls", "-p", "title:Slow").stdout.strip())
    old = features(env)
    sf.write(path, synth_track(TrackSpec("Slow", 140, 64, 8.0, 1.0), seed=99), 22050, format="FLAC")
    out = env.run("sonicanalysis").stdout
    assert analysed_count(out) == 1
    new = features(env)
    changed = [i for i in new if not np.array_equal(new[i], old[i])]
    assert len(changed) == 1


def test_bad_files_are_recorded_with_reasons_and_retried(env: BeetsEnv) -> None:
    paths = env.run("ls", "-p").stdout.strip().splitlines()
    lossy = Path(next(p for p in paths if p.endswith(".mp3")))
    drone = Path(next(p for p in paths if "Drone" in p))
    good_bytes = lossy.read_bytes()
    lossy.write_bytes(b"\x00garbage" * 100)
    drone.unlink()
    out = env.run("sonicanalysis").stdout
    assert analysed_count(out) == 2
    assert "1 failed, 1 missing" in out
    reasons = failures(env)
    assert reasons[drone.name] == "missing"
    assert reasons[lossy.name] in {"corrupt", "unsupported"}
    # Unchanged failures are not retried without --retry-failed.
    out = env.run("sonicanalysis").stdout
    assert "failed before" in out
    lossy.write_bytes(good_bytes)
    env.run("sonicanalysis", "--retry-failed")
    assert lossy.name not in failures(env)


def test_dry_run_writes_nothing(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    write_library(tmp_path / "in", ALBUMS[:1])
    env.run("import", str(tmp_path / "in"))
    out = env.run("sonicanalysis", "-p").stdout
    assert "2 tracks would be analysed" in out
    assert not env.sidecar_path.exists()


def test_kill_mid_run_leaves_whole_rows_and_resumes(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    albums = [
        AlbumSpec(
            "Long Band",
            "Many Tracks",
            2020,
            "wav",
            [TrackSpec(f"T{i:02d}", 100 + i, 50 + i % 12, 20.0, 0.6) for i in range(12)],
        )
    ]
    write_library(tmp_path / "in", albums)
    env.run("import", str(tmp_path / "in"))
    proc = env.popen("sonicanalysis", "-j", "1")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if env.sidecar_path.exists() and len(features(env)) >= 2:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    done = len(features(env))
    assert 0 < done < 12
    with sqlite3.connect(env.sidecar_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    out = env.run("sonicanalysis").stdout
    assert analysed_count(out) == 12 - done
    assert len(features(env)) == 12


def test_auto_analyses_on_import(tmp_path: Path) -> None:
    env = make_env(tmp_path, auto=True)
    # A track too short to analyse: its failure is recorded once, like the command's.
    blip = TrackSpec("Blip", 120, 60, 0.5)
    write_library(tmp_path / "in", [replace(ALBUMS[0], tracks=[*ALBUMS[0].tracks, blip])])
    env.run("import", str(tmp_path / "in"))
    assert len(features(env)) == 2
    assert list(failures(env).values()) == ["too_short"]
    failed_before = failed_at(env)
    sidecar = Sidecar(env.sidecar_path)
    paths = {bytes(p) for (p,) in sidecar._query("SELECT path FROM sonic_files")}
    sidecar.close()
    assert all(str(env.music_dir).encode() in p for p in paths)  # final paths, not the sources
    # Re-importing analysed files (`import -L` sends album_imported again) must not redo them,
    # nor retry the unchanged file that failed (only `--retry-failed` does).
    before = analysed_at(env)
    proc = env.run("-v", "import", "-L")
    assert analysed_at(env) == before and failed_at(env) == failed_before
    assert "sonicanalysis: analysed 0 tracks (0 failed)" in proc.stdout + proc.stderr


def test_dask_executor_gives_identical_vectors(env: BeetsEnv, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    local = make_env(tmp_path / "local")
    write_library(tmp_path / "in2", ALBUMS)
    local.run("import", str(tmp_path / "in2"))
    local.run("sonicanalysis")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        protocol="tcp://",
        host="127.0.0.1",
    ) as cluster:
        out = env.run(
            "sonicanalysis", "--executor", "dask", "--scheduler", cluster.scheduler_address
        ).stdout
    assert analysed_count(out) == 4
    by_title = {}
    for e in (env, local):
        titles = dict(
            line.split("\t")
            for line in e.run("ls", "-f", "$id\t$title").stdout.strip().splitlines()
        )
        by_title[e] = {titles[str(i)]: v for i, v in features(e).items()}
    assert by_title[env].keys() == by_title[local].keys()
    for title, vec in by_title[env].items():
        np.testing.assert_array_equal(vec, by_title[local][title], err_msg=title)


def test_two_workers_store_the_same_vectors_as_one(env: BeetsEnv) -> None:
    """-j 2 (this process and a forked worker) stores exactly what -j 1 stores, and leaves
    no process behind."""
    env.run("sonicanalysis", "-j", "1")
    one = stored(env)
    out = env.run("sonicanalysis", "--force", "-j", "2").stdout
    assert "with 2 workers" in out and analysed_count(out) == 4
    two = stored(env)
    assert two.keys() == one.keys() and len(one) == 4
    for item_id, (vectors, analysed_at) in one.items():
        assert two[item_id][1] > analysed_at  # analysed again, not kept
        for name, vec in vectors.items():
            np.testing.assert_array_equal(two[item_id][0][name], vec, err_msg=name)
    assert not env.processes()


def stored(env: BeetsEnv) -> dict[int, tuple[dict[str, np.ndarray], float]]:
    """item id -> (segment name -> stored vector, analysed_at)."""
    sidecar = Sidecar(env.sidecar_path)
    try:
        return {
            i: ({name: getattr(f, name) for name in ("full", "start", "mid", "end")}, f.analysed_at)
            for i, f in sidecar.features_for_items().items()
        }
    finally:
        sidecar.close()


def test_dask_without_scheduler_is_a_clear_error(env: BeetsEnv) -> None:
    proc = env.run("sonicanalysis", "--executor", "dask", check=False)
    assert proc.returncode != 0 and "--scheduler" in proc.stderr


def test_unreachable_dask_scheduler_is_a_one_line_error(env: BeetsEnv) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = env.run(
        "sonicanalysis",
        "--executor",
        "dask",
        "--scheduler",
        f"tcp://127.0.0.1:{port}",
        check=False,
        timeout=120,
    )
    assert proc.returncode != 0
    assert f"Dask scheduler tcp://127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr

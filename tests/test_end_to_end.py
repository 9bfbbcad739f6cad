"""The whole chain on real audio through the real `beet` CLI, each documented flag by its effect.

import (with the discogsgenres import stage) → discogsgenres against the Discogs stand-in →
sonicanalysis → buildartifacts → dsplaylist → dsreport, on a small generated library (seven
short tracks in WAV, FLAC and MP3). Every step checks what a flag changed on disk, in the
sidecar or at the stand-in, not only that the command exited 0.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from devtools.beets_env import ALL_PLUGINS, BeetsEnv
from devtools.demo_library import AlbumSpec, TrackSpec, write_library
from devtools.discogs_standin import Catalog, StandinServer

TOKEN = "e2e-token-51c0"

ALBUMS = [
    AlbumSpec(
        "Kraftwerk",
        "Computer World",
        1981,
        "flac",
        [
            TrackSpec("Numbers", 124, 57, 5.0, 0.9),
            TrackSpec("Pocket Calculator", 118, 62, 5.0, 0.8),
        ],
    ),
    AlbumSpec(
        "Miles Davis",
        "Kind of Blue",
        1959,
        "wav",
        [TrackSpec("So What", 92, 62, 5.0, 0.2), TrackSpec("Blue in Green", 80, 55, 5.0, 0.1)],
    ),
    AlbumSpec(
        "Bill Evans",
        "Portrait in Jazz",
        1960,
        "mp3",
        [TrackSpec("Autumn Leaves", 96, 64, 5.0, 0.3), TrackSpec("Witchcraft", 100, 60, 5.0, 0.2)],
    ),
    AlbumSpec(
        "The Nobodies",
        "Garage Tapes",
        2019,
        "wav",
        [TrackSpec("Feedback", 140, 52, 5.0, 1.0)],
        genres=["Garage Rock"],
    ),
]
N_TRACKS = 7


def catalog() -> Catalog:
    cat = Catalog()
    cat.add_album("Kraftwerk", "Computer World", 1981, ["Electronic"], ["Synth-pop", "Electro"])
    cat.add_album("Miles Davis", "Kind of Blue", 1959, ["Jazz"], ["Modal", "Cool Jazz"])
    cat.add_album("Bill Evans", "Portrait in Jazz", 1960, ["Jazz"], ["Cool Jazz", "Post Bop"])
    return cat  # "Garage Tapes" is not on Discogs (yet)


@pytest.fixture
def server() -> Iterator[StandinServer]:
    with StandinServer(catalog(), token=TOKEN, rate_limit_per_min=1000) as srv:
        yield srv


def sql(env: BeetsEnv, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(env.sidecar_path) as conn:
        return conn.execute(query).fetchall()


def searched(server: StandinServer) -> list[str]:
    return [r.query["release_title"] for r in server.request_log if "release_title" in r.query]


def snapshot(env: BeetsEnv, *paths: Path) -> dict[Path, bytes]:
    """Every file under ``paths`` and its bytes, the sidecar's WAL checkpointed first.

    SQLite folds the WAL into the database when the last connection closes, so whether a WAL
    file is around says nothing about writes: after a checkpoint, any write changes the
    database file itself.
    """
    with sqlite3.connect(env.sidecar_path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    out = {}
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        out.update({p: p.read_bytes() for p in files if not p.name.endswith(("-wal", "-shm"))})
    return out


def load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_the_whole_chain(tmp_path: Path, server: StandinServer) -> None:
    env = BeetsEnv(
        tmp_path / "beets",
        plugins=list(ALL_PLUGINS),
        settings={
            "discogsgenres": {"base_url": server.base_url, "retries": 1, "timeout": 5},
            "sonicanalysis": {"workers": 1},
        },
        env={"DISCOGS_TOKEN": TOKEN},
    )
    write_library(tmp_path / "in", ALBUMS)

    # -- import: the discogsgenres import stage looks up every album once ---------------------
    env.run("import", str(tmp_path / "in"))
    assert set(searched(server)) == {a.album for a in ALBUMS}
    assert env.run("ls", "-a", "discogs_styles:modal").stdout.strip() == (
        "Miles Davis - Kind of Blue"
    )
    assert sql(env, "SELECT genre FROM album_genres WHERE genre = '__EMPTY__'") == [("__EMPTY__",)]

    # -- discogsgenres ------------------------------------------------------------------------
    before = snapshot(env, env.root)
    server.clear_log()
    out = env.run("discogsgenres", "--dry-run").stdout
    assert "0 albums would be looked up (4 already processed" in out
    assert server.requests_count == 0 and snapshot(env, env.root) == before  # byte-identical

    out = env.run("discogsgenres", "--force", "--dry-run", "--limit", "2").stdout
    assert out.count("would look up:") == 2 and "2 over --limit" in out
    assert server.requests_count == 0

    server.catalog.add_album("The Nobodies", "Garage Tapes", 2019, ["Rock"], ["Garage Rock"])
    env.run("discogsgenres", "--recheck-empty")
    assert searched(server) == ["Garage Tapes"]  # only the miss is asked again
    assert env.run("ls", "-a", "discogs_genres:rock").stdout.strip() == (
        "The Nobodies - Garage Tapes"
    )

    server.clear_log()
    env.run("discogsgenres", "--force", "--limit", "1")
    assert len(set(searched(server))) == 1

    server.clear_log()
    env.run("discogsgenres", "--force", "--strict-artist", "artist:Kraftwerk")
    assert set(searched(server)) == {"Computer World"}  # the query selects the albums

    # -- sonicanalysis --------------------------------------------------------------------------
    before = snapshot(env, env.sidecar_path)
    out = env.run("sonicanalysis", "--dry-run").stdout
    assert f"Sonic: {N_TRACKS} tracks would be analysed" in out
    assert out.count("would analyse:") == N_TRACKS
    assert snapshot(env, env.sidecar_path) == before

    env.run("sonicanalysis", "--limit", "2", "-j", "1", "album:Kind of Blue", "title:So")
    analysed = sql(env, "SELECT item_id FROM sonic_files")
    assert len(analysed) == 1  # the query left one track; --limit 2 did not add others

    env.run("sonicanalysis", "--limit", "2", "-j", "1")
    assert len(sql(env, "SELECT item_id FROM sonic_files")) == 3

    out = env.run("sonicanalysis", "-j", "2").stdout
    assert f"Sonic: {N_TRACKS - 3} analysed, 0 failed" in out
    vectors = sql(env, "SELECT vec_full FROM sonic_features")
    assert len(vectors) == N_TRACKS
    assert all(np.isfinite(np.frombuffer(v, np.float32)).all() for (v,) in vectors)  # type: ignore[arg-type]
    bpms = env.run("ls", "-f", "$bpm").stdout.split()
    assert all(int(b) > 0 for b in bpms)  # set_bpm fills the empty field

    first = sql(env, "SELECT item_id, linked_at FROM sonic_files")
    out = env.run("sonicanalysis", "--force", "album:Garage Tapes").stdout
    assert "Sonic: 1 analysed" in out
    again = dict(sql(env, "SELECT item_id, linked_at FROM sonic_files"))
    assert sum(again[i] != t for i, t in first) == 1  # type: ignore[index]

    # -- buildartifacts ------------------------------------------------------------------------
    before = snapshot(env, env.sidecar_path)
    out = env.run("buildartifacts", "--dry-run").stdout
    assert "(would be written)" in out
    assert not env.out_dir.exists() and snapshot(env, env.sidecar_path) == before

    server.clear_log()
    out = env.run("buildartifacts").stdout  # every stage: Discogs and sonic are up to date
    assert server.requests_count == 0
    report = json.loads((env.out_dir / "analyze_run_report.json").read_text("utf-8"))
    assert [s["name"] for s in report["stages"]] == [
        "discogs",
        "sonic",
        "genre-sim",
        "artifacts",
        "verify",
    ]
    assert report["ok"] is True
    data = load(env.out_dir / "data_matrices_step1.npz")
    assert data["X_sonic"].shape == (N_TRACKS, 137)
    assert {"modal", "garage rock", "synth-pop"} <= set(data["genre_vocab"].tolist())
    built = snapshot(env, env.out_dir)
    before = snapshot(env, env.sidecar_path)
    out = env.run("buildartifacts", "--dry-run", "--force").stdout
    assert "(would be written)" in out  # --force: both files would be rebuilt ...
    assert snapshot(env, env.out_dir) == built  # ... yet nothing changed on disk
    assert snapshot(env, env.sidecar_path) == before

    env.run("buildartifacts", "--stages", "genre-sim,artifacts", "--limit", "3")
    limited = load(env.out_dir / "limit-3" / "data_matrices_step1.npz")
    assert len(limited["track_ids"]) == 3
    elsewhere = tmp_path / "elsewhere"
    env.run("buildartifacts", "--stages", "genre-sim,artifacts,verify", "--out-dir", str(elsewhere))
    assert len(load(elsewhere / "data_matrices_step1.npz")["track_ids"]) == N_TRACKS
    # Neither the subset nor the other directory touched the real artifacts.
    assert {
        p: b for p, b in snapshot(env, env.out_dir).items() if "limit-3" not in p.parts
    } == built

    out = env.run("buildartifacts", "--stages", "artifacts").stdout
    assert "artifacts: up-to-date" in out
    out = env.run("buildartifacts", "--stages", "artifacts", "--force").stdout
    assert "artifacts: ok" in out

    # -- dsplaylist ----------------------------------------------------------------------------
    m3u = tmp_path / "lists" / "so-what.m3u"
    m3u.parent.mkdir()
    out = env.run("dsplaylist", "title:So What", "-n", "4", "-o", str(m3u), "--relative").stdout
    assert f"to {m3u}" in out
    lines = m3u.read_text("utf-8").splitlines()
    paths = [line for line in lines if not line.startswith("#")]
    assert lines[0] == "#EXTM3U" and 1 <= len(paths) <= 4
    assert all(not Path(p).is_absolute() and (m3u.parent / p).exists() for p in paths)
    assert "So What" in lines[1]  # the seed leads

    pretend = tmp_path / "lists" / "not-written.m3u"
    out = env.run(
        "dsplaylist", "title:So What", "-n", "7", "--mode", "sonic-only", "-p", "-o", str(pretend)
    ).stdout
    assert not pretend.exists()
    entries = [line for line in out.splitlines() if line[:2] in ("* ", "  ")]
    assert entries[0].startswith("* Miles Davis – So What – ")
    assert f"{len(entries)} of 7 tracks (sonic-only)" in out

    # -- dsreport -------------------------------------------------------------------------------
    pytest.importorskip("matplotlib")
    html_path = tmp_path / "report.html"
    env.run("dsreport", "-o", str(html_path))
    html = html_path.read_text("utf-8")
    assert f'<td data-key="n_tracks">{N_TRACKS}</td>' in html
    assert f'<td data-key="tracks_with_sonic">{N_TRACKS}</td>' in html
    assert html.count("data:image/png;base64,") >= 3
    assert not (env.out_dir / "dspipeline_report.html").exists()  # -o wrote elsewhere

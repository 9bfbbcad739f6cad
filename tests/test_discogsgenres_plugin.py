"""`discogsgenres` end to end: the real `beet` CLI, a real library, the stand-in over sockets."""

from __future__ import annotations

import signal
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from beetsplug._dspipeline.keys import album_key
from devtools.beets_env import BeetsEnv
from devtools.demo_library import AlbumSpec, TrackSpec, write_library
from devtools.discogs_standin import Catalog, StandinServer

TOKEN = "tok-S3CRET-5f2a9c"


def small_catalog() -> Catalog:
    cat = Catalog()
    cat.add_album("Kraftwerk", "Computer World", 1981, ["Electronic"], ["Synth-pop", "Electro"])
    cat.add_album("Björk", "Homogenic", 1997, ["Electronic"], ["Trip Hop", "Experimental"])
    cat.add_album("Daft Punk", "Discovery", 2001, ["Electronic"], ["House", "Disco"])
    cat.add_album("Other Band", "Discovery", 1990, ["Rock"], ["Hard Rock"])
    return cat


ALBUMS = [
    ("Kraftwerk", "Computer World", 1981),
    ("Björk", "Homogenic", 1997),
    ("Daft Punk", "Discovery (Deluxe Edition)", 2001),
    ("The Nobodies", "Garage Tapes", 2019),
]


def make_music(root: Path, albums: Sequence[tuple[str, str, int]]) -> Path:
    specs = [
        AlbumSpec(artist, album, year, "wav", [TrackSpec("One", 120, 60, 1.0)])
        for artist, album, year in albums
    ]
    write_library(root, specs)
    return root


@pytest.fixture
def server() -> Iterator[StandinServer]:
    with StandinServer(small_catalog(), token=TOKEN, rate_limit_per_min=1000) as srv:
        yield srv


def make_env(tmp_path: Path, server: StandinServer, **discogs: object) -> BeetsEnv:
    return BeetsEnv(
        tmp_path / "beets",
        plugins=["discogsgenres"],
        settings={
            "discogsgenres": {"base_url": server.base_url, "retries": 1, "timeout": 2, **discogs}
        },
        env={"DISCOGS_TOKEN": TOKEN},
    )


def rows(env: BeetsEnv) -> dict[str, set[tuple[str, str]]]:
    with sqlite3.connect(env.sidecar_path) as conn:
        out: dict[str, set[tuple[str, str]]] = {}
        for album_id, genre, source in conn.execute("SELECT * FROM album_genres"):
            out.setdefault(album_id, set()).add((genre, source))
        return out


def key(artist: str, album: str) -> str:
    return album_key(artist, album)


@pytest.fixture
def imported(tmp_path: Path, server: StandinServer) -> BeetsEnv:
    env = make_env(tmp_path, server)
    env.run("import", str(make_music(tmp_path / "in", ALBUMS)))
    return env


def test_import_stage_stores_genres_styles_and_misses(
    imported: BeetsEnv, server: StandinServer
) -> None:
    got = rows(imported)
    assert got[key("Kraftwerk", "Computer World")] == {
        ("electronic", "discogs_release"),
        ("synth-pop", "discogs_master"),
        ("electro", "discogs_master"),
    }
    # The deluxe edition matched the plain title; not the other band's "Discovery".
    assert ("house", "discogs_master") in got[key("Daft Punk", "Discovery (Deluxe Edition)")]
    assert ("trip hop", "discogs_master") in got[key("Björk", "Homogenic")]
    assert got[key("The Nobodies", "Garage Tapes")] == {("__EMPTY__", "discogs_release")}
    # Search results carry genre and style: a hit costs exactly one request.
    hit_requests = [r for r in server.request_log if r.query.get("release_title") != "Garage Tapes"]
    assert len(hit_requests) == 3
    # Queryable inside beets.
    out = imported.run("ls", "-a", "discogs_styles:electro").stdout
    assert out.strip().splitlines() == ["Kraftwerk - Computer World"]
    assert "Björk" in imported.run("ls", "-a", "discogs_genres:electronic").stdout


def test_the_fields_are_the_albums_and_items_get_no_copies(
    imported: BeetsEnv, server: StandinServer
) -> None:
    # Item templates read `$discogs_styles` through the album; a copy stored on each item
    # would shadow the album's value once a later lookup changes it.
    imported.run("discogsgenres", "--force")  # the command's path; the import stage ran too
    with sqlite3.connect(imported.library_path) as conn:
        album_keys = {k for (k,) in conn.execute("SELECT key FROM album_attributes")}
        item_keys = {k for (k,) in conn.execute("SELECT key FROM item_attributes")}
    assert {"discogs_genres", "discogs_styles"} <= album_keys
    assert not {k for k in item_keys if k.startswith("discogs_")}


def test_second_run_skips_everything_and_sends_nothing(
    imported: BeetsEnv, server: StandinServer
) -> None:
    server.clear_log()
    out = imported.run("discogsgenres").stdout
    assert "Already processed 4 albums; use --force to recheck" in out
    assert server.requests_count == 0


def test_force_refetches_all_and_keeps_other_sources(
    imported: BeetsEnv, server: StandinServer
) -> None:
    k = key("Kraftwerk", "Computer World")
    with sqlite3.connect(imported.sidecar_path) as conn:
        conn.execute(
            "INSERT INTO album_genres VALUES (?, 'krautrock', 'musicbrainz_release')", (k,)
        )
        conn.execute("DELETE FROM album_genres WHERE album_id = ? AND genre = 'electro'", (k,))
    server.clear_log()
    out = imported.run("discogsgenres", "--force").stdout
    assert "4 processed: 3 hits, 1 misses, 0 errors" in out
    assert ("krautrock", "musicbrainz_release") in rows(imported)[k]
    assert ("electro", "discogs_master") in rows(imported)[k]
    assert server.requests_count >= 4
    # -v explains each album; without it, only the summary (no failures to announce).
    assert "Kraftwerk - Computer World: hit (" not in out and "will be retried" not in out
    verbose = imported.run("discogsgenres", "--force", "-v", "artist:Kraftwerk").stdout
    assert "Kraftwerk - Computer World: hit (" in verbose


def test_recheck_empty_retries_only_misses(imported: BeetsEnv, server: StandinServer) -> None:
    server.catalog.add_album("The Nobodies", "Garage Tapes", 2019, ["Rock"], ["Garage Rock"])
    server.clear_log()
    out = imported.run("discogsgenres", "--recheck-empty").stdout
    assert "1 processed: 1 hits" in out
    assert rows(imported)[key("The Nobodies", "Garage Tapes")] == {
        ("rock", "discogs_release"),
        ("garage rock", "discogs_master"),
    }
    searched = {r.query.get("release_title") for r in server.request_log}
    assert searched == {"Garage Tapes"}


def test_dry_run_sends_and_writes_nothing(tmp_path: Path, server: StandinServer) -> None:
    env = make_env(tmp_path, server, auto=False)
    env.run("import", str(make_music(tmp_path / "in", ALBUMS)))
    assert not env.sidecar_path.exists()
    out = env.run("discogsgenres", "-p", "--limit", "3").stdout
    assert "3 albums would be looked up" in out and "1 over --limit" in out
    assert out.count("would look up:") == 3
    assert server.requests_count == 0
    assert not env.sidecar_path.exists()


def test_network_error_writes_no_marker_and_is_retried(
    tmp_path: Path, server: StandinServer
) -> None:
    env = make_env(tmp_path, server, auto=False)
    env.run("import", str(make_music(tmp_path / "in", ALBUMS[:2])))
    server.faults.inject("500", times=None)
    proc = env.run("discogsgenres", check=False)
    # Nothing succeeded: said so, exit 1 (tests/test_discogs_writeback.py has the details).
    assert proc.returncode == 1 and "2 errors" in proc.stdout
    assert "retried next run" in proc.stderr
    assert rows(env) == {}
    server.faults.clear()
    out = env.run("discogsgenres").stdout
    assert "2 processed: 2 hits" in out
    # A failed re-lookup keeps what the album has: its fields stay as they were.
    server.faults.inject("500", times=None)
    assert env.run("discogsgenres", "--force", check=False).returncode == 1
    out = env.run("ls", "-a", "-f", "$discogs_styles", "album:Computer World").stdout
    assert out.strip() == "synth-pop; electro"


def test_the_first_ten_errors_are_listed(tmp_path: Path, server: StandinServer) -> None:
    env = make_env(tmp_path, server, auto=False)
    albums = [(f"Band {i:02d}", f"Album Title {i:02d}", 1990) for i in range(11)]
    env.run("import", str(make_music(tmp_path / "in", albums)))
    server.faults.inject("500", times=None)
    proc = env.run("discogsgenres", check=False)
    assert proc.returncode == 1 and "11 errors" in proc.stdout
    assert proc.stdout.count("  error: ") == 10


def test_rate_limit_bursts_are_survived(tmp_path: Path, server: StandinServer) -> None:
    env = make_env(tmp_path, server, auto=False, retries=4)
    env.run("import", str(make_music(tmp_path / "in", ALBUMS[:2])))
    server.faults.inject("429", times=2, retry_after=1)
    out = env.run("discogsgenres").stdout
    assert "2 processed: 2 hits" in out
    assert 429 in server.statuses()


def test_missing_token_command_fails_and_import_continues(
    tmp_path: Path, server: StandinServer
) -> None:
    env = make_env(tmp_path, server)
    env.env.pop("DISCOGS_TOKEN")
    proc = env.run("import", str(make_music(tmp_path / "in", ALBUMS[:2])))
    assert (proc.stderr + proc.stdout).count("Discogs token required") == 1  # once per import
    assert "Logging error" not in proc.stderr and "Traceback" not in proc.stderr
    assert len(env.run("ls", "-a").stdout.strip().splitlines()) == 2  # import went on
    proc = env.run("discogsgenres", check=False)
    assert proc.returncode != 0
    assert "Get token from: https://www.discogs.com/settings/developers" in proc.stderr
    assert server.requests_count == 0


def test_token_never_appears_in_output_logs_or_files(tmp_path: Path, server: StandinServer) -> None:
    env = make_env(tmp_path, server)
    server.faults.inject("500", times=1)
    proc = env.run("-vv", "import", str(make_music(tmp_path / "in", ALBUMS)))
    proc2 = env.run("-vv", "discogsgenres", "--force")
    proc3 = env.run("config")
    for text in (proc.stdout, proc.stderr, proc2.stdout, proc2.stderr, proc3.stdout):
        assert TOKEN not in text
    assert "Authorization" not in proc2.stderr
    for path in env.root.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_strict_artist_refuses_a_title_only_match(tmp_path: Path, server: StandinServer) -> None:
    server.catalog.add_album(
        "Boards of Canada", "Music Has the Right to Children", 1998, ["Electronic"], ["IDM"]
    )
    env = make_env(tmp_path, server, auto=False)
    env.run(
        "import",
        str(
            make_music(
                tmp_path / "in",
                [("B.o.C. Tribute Ensemble", "Music Has the Right to Children", 1998)],
            )
        ),
    )
    out = env.run("discogsgenres", "--strict-artist").stdout
    assert "1 misses" in out
    assert rows(env) == {
        key("B.o.C. Tribute Ensemble", "Music Has the Right to Children"): {
            ("__EMPTY__", "discogs_release")
        }
    }


def test_strict_artist_flag_and_setting_refuse_a_contained_name(
    tmp_path: Path, server: StandinServer
) -> None:
    # Lenient matching counts one name contained in the other as the artist (docs: "Miles
    # Davis" ~ "The Miles Davis Quintet"); --strict-artist and strict_artist: yes do not.
    server.catalog.add_album("The Miles Davis Quintet", "Relaxin'", 1958, ["Jazz"], ["Hard Bop"])
    env = make_env(tmp_path, server, auto=False)
    env.run("import", str(make_music(tmp_path / "in", [("Miles Davis", "Relaxin'", 1958)])))
    k = key("Miles Davis", "Relaxin'")
    env.run("discogsgenres", "--strict-artist")
    assert rows(env)[k] == {("__EMPTY__", "discogs_release")}
    env.run("discogsgenres", "--force")
    assert rows(env)[k] == {("jazz", "discogs_release"), ("hard bop", "discogs_master")}
    env.config["discogsgenres"]["strict_artist"] = True
    env.write_config()
    env.run("discogsgenres", "--force")
    assert rows(env)[k] == {("__EMPTY__", "discogs_release")}


def test_direct_fetch_by_discogs_albumid_uses_no_search(
    tmp_path: Path, server: StandinServer
) -> None:
    rid = server.catalog.add_release("Miles Davis", "Kind of Blue", 1959, ["Jazz"], ["Modal"])
    env = make_env(tmp_path, server, auto=False)
    env.run("import", str(make_music(tmp_path / "in", [("Miles Davis", "Kind Of Blue", 1959)])))
    env.run("modify", "-a", "-y", "album:Kind Of Blue", f"discogs_albumid={rid}")
    server.clear_log()
    env.run("discogsgenres")
    assert [r.path for r in server.request_log] == [f"/releases/{rid}"]
    assert ("modal", "discogs_master") in rows(env)[key("Miles Davis", "Kind Of Blue")]
    assert env.run("ls", "-a", "-f", "$discogs_release_id").stdout.strip() == str(rid)


def test_kill_mid_run_leaves_whole_rows_and_next_run_resumes(tmp_path: Path) -> None:
    cat = Catalog()
    albums = [(f"Artist {i:02d}", f"Record Number {i:02d}", 2000 + i % 20) for i in range(60)]
    for artist, title, year in albums:
        cat.add_album(artist, title, year, ["Electronic"], ["Techno", "Ambient"])
    with StandinServer(cat, token=TOKEN, rate_limit_per_min=10000, latency_s=0.05) as srv:
        env = make_env(tmp_path, srv, auto=False)
        env.run("import", str(make_music(tmp_path / "in", albums)))
        proc = env.popen("discogsgenres")
        deadline = time.monotonic() + 60
        while srv.requests_count < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        partial = rows(env)
        assert 0 < len(partial) < 60
        for album_rows in partial.values():  # every stored album is whole
            assert album_rows == {
                ("electronic", "discogs_release"),
                ("techno", "discogs_master"),
                ("ambient", "discogs_master"),
            }
        with sqlite3.connect(env.sidecar_path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        srv.clear_log()
        out = env.run("discogsgenres").stdout
        assert f"{60 - len(partial)} processed" in out
        if 60 - len(partial) >= 50:
            assert f"Discogs: 50/{60 - len(partial)} processed (" in out
        assert len(rows(env)) == 60
        assert srv.requests_count <= 1.2 * (60 - len(partial)) + 1


def test_progress_line_every_50_albums(tmp_path: Path) -> None:
    cat = Catalog()
    albums = [(f"Band {i:02d}", f"Album Title {i:02d}", 1990) for i in range(55)]
    for artist, title, year in albums:
        cat.add_album(artist, title, year, ["Jazz"], ["Bop"])
    with StandinServer(cat, token=TOKEN, rate_limit_per_min=10000) as srv:
        env = make_env(tmp_path, srv, auto=False)
        env.run("import", str(make_music(tmp_path / "in", albums)))
        out = env.run("discogsgenres").stdout
    progress = [line for line in out.splitlines() if line.startswith("Discogs: 50/55")]
    assert len(progress) == 1
    assert progress[0].startswith("Discogs: 50/55 processed (50 hits, est ")
    assert progress[0].endswith("s remaining)")
    assert "55 processed: 55 hits, 0 misses, 0 errors, 0 skipped" in out
    assert "requests (1.00/album)" in out


def test_reimported_album_gets_its_fields_without_a_lookup(
    imported: BeetsEnv, server: StandinServer, tmp_path: Path
) -> None:
    # Other tools' genre rows for the same album (the sidecar is shared; their sources sort
    # before and after ours): neither of the Discogs fields may pick them up.
    computer_world = key("Kraftwerk", "Computer World")
    with sqlite3.connect(imported.sidecar_path) as conn:
        conn.executemany(
            "INSERT INTO album_genres VALUES (?, 'Krautrock', ?)",
            [(computer_world, "allmusic"), (computer_world, "lastfm")],
        )
    imported.run("remove", "-a", "-f", "album:Computer World")
    server.clear_log()
    imported.run("import", str(make_music(tmp_path / "again", ALBUMS[:1])))
    assert server.requests_count == 0
    fields = "$discogs_genres|$discogs_styles"
    out = imported.run("ls", "-a", "-f", fields, "album:Computer World").stdout
    assert out.strip() == "electronic|synth-pop; electro"
    assert {("Krautrock", "allmusic"), ("Krautrock", "lastfm")} <= rows(imported)[computer_world]


def test_singletons_and_albums_without_artist_are_skipped_and_counted(
    tmp_path: Path, server: StandinServer
) -> None:
    env = make_env(tmp_path, server, auto=False)
    env.run("import", str(make_music(tmp_path / "in", ALBUMS[:1])))
    env.run("import", "-s", str(make_music(tmp_path / "single", [("Solo Act", "Loose", 2001)])))
    env.run("import", str(make_music(tmp_path / "anon", [("", "Untitled Demos", 2002)])))
    out = env.run("discogsgenres").stdout
    assert "1 processed: 1 hits, 0 misses, 0 errors, 2 skipped" in out
    searched = {r.query.get("release_title") for r in server.request_log}
    assert searched == {"Computer World"}


def test_broken_sidecar_is_one_line_and_import_goes_on(
    tmp_path: Path, server: StandinServer
) -> None:
    env = make_env(tmp_path, server)
    env.sidecar_path.write_bytes(b"not a database at all " * 200)
    proc = env.run("import", str(make_music(tmp_path / "in", ALBUMS[:1])))
    assert "dspipeline.db" in proc.stderr and "Traceback" not in proc.stderr
    assert env.run("ls", "-a").stdout.strip() == "Kraftwerk - Computer World"
    proc = env.run("discogsgenres", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if "dspipeline.db" in line]
    assert len(error_lines) == 1 and "is not a database" in error_lines[0]
    assert env.sidecar_path.read_bytes().startswith(b"not a database")  # left as it was

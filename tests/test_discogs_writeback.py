"""Discogs genres into beets' `genres` and the file tags (`write_genres`, `genre_source`), the
`-v` explanation, and the command's one-line errors: the real `beet` CLI, real FLAC files read
back with mediafile, the stand-in over sockets."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from mediafile import MediaFile

from devtools.beets_env import BeetsEnv
from devtools.demo_library import AlbumSpec, TrackSpec, write_library
from devtools.discogs_standin import Catalog, StandinServer

TOKEN = "tok-WRITEBACK-77e1"


def catalog() -> Catalog:
    cat = Catalog()
    cat.add_album("Kraftwerk", "Computer World", 1981, ["Electronic"], ["Synth-pop", "Electro"])
    cat.add_album(["Johann Sebastian Bach", "Glenn Gould"], "Goldberg-Variationen BWV 988", 1982,
                  ["Classical"], ["Baroque"], join=",")  # fmt: skip
    cat.add_album(["Johann Sebastian Bach", "András Schiff"], "Goldberg-Variationen BWV 988",
                  2001, ["Classical"], ["Piano"], join=",")  # fmt: skip
    return cat


@pytest.fixture
def server() -> Iterator[StandinServer]:
    with StandinServer(catalog(), token=TOKEN, rate_limit_per_min=1000) as srv:
        yield srv


def make_env(
    tmp_path: Path, server: StandinServer, *, write: bool = False, **discogs: object
) -> BeetsEnv:
    env = BeetsEnv(
        tmp_path / "beets",
        plugins=["discogsgenres"],
        settings={
            "discogsgenres": {
                "base_url": server.base_url,
                "retries": 1,
                "timeout": 2,
                "auto": False,
                **discogs,
            }
        },
        env={"DISCOGS_TOKEN": TOKEN},
    )
    env.config["import"]["write"] = write
    env.write_config()
    return env


def music(root: Path, albums: Sequence[tuple[str, str, int, tuple[str, ...]]]) -> list[Path]:
    specs = [
        AlbumSpec(artist, album, year, "flac", [TrackSpec("One", 120, 60, 3.0),
                                                TrackSpec("Two", 100, 62, 3.0)], genres)
        for artist, album, year, genres in albums
    ]  # fmt: skip
    return write_library(root, specs)


KRAFTWERK = ("Kraftwerk", "Computer World", 1981, ("Krautrock",))


def library_files(env: BeetsEnv) -> list[Path]:
    return sorted(env.music_dir.rglob("*.flac"))


def tag_genres(paths: Sequence[Path]) -> list[list[str]]:
    return [list(MediaFile(p).genres or []) for p in paths]


def beets_genres(env: BeetsEnv, *query: str) -> list[str]:
    out = env.run("ls", "-f", "$genres", *query).stdout
    return out.strip().splitlines()


def test_replace_styles_reach_the_file_tags_through_beet_write(
    tmp_path: Path, server: StandinServer
) -> None:
    env = make_env(tmp_path, server, write_genres="replace")
    music(tmp_path / "in", [KRAFTWERK])
    env.run("import", str(tmp_path / "in"))
    files = library_files(env)
    assert tag_genres(files) == [["Krautrock"], ["Krautrock"]]
    env.run("discogsgenres")
    # In beets (album and items), not yet in the files: import.write is off.
    assert beets_genres(env) == ["Synth-pop; Electro"] * 2
    assert env.run("ls", "-a", "-f", "$genres").stdout.strip() == "Synth-pop; Electro"
    assert tag_genres(files) == [["Krautrock"], ["Krautrock"]]
    env.run("write")
    assert tag_genres(files) == [["Synth-pop", "Electro"]] * 2
    # The sidecar stays the source of truth, lower-cased as ever.
    with sqlite3.connect(env.sidecar_path) as conn:
        rows = set(conn.execute("SELECT genre, source FROM album_genres"))
    assert rows == {
        ("electronic", "discogs_release"),
        ("synth-pop", "discogs_master"),
        ("electro", "discogs_master"),
    }


def test_append_both_keeps_existing_genres_and_never_duplicates(
    tmp_path: Path, server: StandinServer
) -> None:
    env = make_env(tmp_path, server, write=True, write_genres="append", genre_source="both")
    music(tmp_path / "in", [KRAFTWERK])
    env.run("import", str(tmp_path / "in"))
    env.run("discogsgenres")
    expected = ["Krautrock", "Electronic", "Synth-pop", "Electro"]
    # import.write is on: the command writes the tags itself.
    assert tag_genres(library_files(env)) == [expected, expected]
    env.run("discogsgenres", "--force")
    assert beets_genres(env) == ["; ".join(expected)] * 2
    assert tag_genres(library_files(env)) == [expected, expected]


def test_default_leaves_beets_genres_and_files_alone(tmp_path: Path, server: StandinServer) -> None:
    env = make_env(tmp_path, server, write=True)
    music(tmp_path / "in", [KRAFTWERK])
    env.run("import", str(tmp_path / "in"))
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in library_files(env)]
    env.run("discogsgenres")
    assert beets_genres(env) == ["Krautrock"] * 2
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in library_files(env)] == before
    assert env.run("ls", "-a", "-f", "$discogs_styles").stdout.strip() == "synth-pop; electro"


def test_import_stage_sets_genres_and_never_writes_the_source_files(
    tmp_path: Path, server: StandinServer
) -> None:
    env = make_env(tmp_path, server, write=True, write_genres="replace", genre_source="genres",
                   auto=True)  # fmt: skip
    sources = music(tmp_path / "in", [KRAFTWERK])
    source_hashes = [hashlib.sha256(p.read_bytes()).hexdigest() for p in sources]
    env.run("import", str(tmp_path / "in"))
    assert beets_genres(env) == ["Electronic"] * 2
    # The stage runs before beets copies the files; it writes no file itself (beets writes
    # the task's items afterwards when it applies tags; an as-is import does not).
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in sources] == source_hashes
    env.run("write")
    assert tag_genres(library_files(env)) == [["Electronic"], ["Electronic"]]
    assert tag_genres(sources) == [["Krautrock"], ["Krautrock"]]


def test_verbose_shows_candidates_scores_and_why(tmp_path: Path, server: StandinServer) -> None:
    env = make_env(tmp_path, server)
    music(tmp_path / "in", [("Glenn Gould", "Bach: Goldberg Variations", 1982, ()),
                            ("Keith Jarrett", "Bach: Goldberg Variations", 1989, ())])  # fmt: skip
    env.run("import", str(tmp_path / "in"))
    out = env.run("discogsgenres", "-v").stdout
    gould, jarrett = out.split("Keith Jarrett - Bach: Goldberg Variations: ")
    assert "Glenn Gould - Bach: Goldberg Variations: hit (1 requests)" in gould
    assert "Johann Sebastian Bach, Glenn Gould - Goldberg-Variationen BWV 988 [1982" in gould
    assert "scored 0.97, the only candidate that passed" in gould.splitlines()[-1]
    assert jarrett.startswith("miss")
    assert "-> no match: " in jarrett
    assert TOKEN not in out


def test_bad_settings_are_one_line_errors_before_any_work(
    tmp_path: Path, server: StandinServer
) -> None:
    env = make_env(tmp_path, server)
    music(tmp_path / "in", [KRAFTWERK])
    env.run("import", str(tmp_path / "in"))
    env.run("discogsgenres")
    server.clear_log()
    cases = [
        (("discogsgenres", "--threshold", "7"), {}, "--threshold must be between 0 and 1, got 7"),
        (("discogsgenres", "-p", "--threshold", "-1"), {}, "--threshold must be between 0 and 1"),
        (("discogsgenres",), {"write_genres": "maybe"},
         "discogsgenres.write_genres: expected one of no, append, replace, got 'maybe'"),
        (("discogsgenres",), {"genre_source": "moods"},
         "discogsgenres.genre_source: expected one of styles, genres, both, got 'moods'"),
        (("discogsgenres",), {"write_fields": True}, "write_fields was replaced by write_genres"),
        # The config file is checked by the config templates (config_schema.py) first.
        (("discogsgenres",), {"threshold": 3},
         "discogsgenres.threshold: expected a number from 0 to 1, got 3"),
    ]  # fmt: skip
    for args, settings, message in cases:
        env.config["discogsgenres"] = {**env.config["discogsgenres"], **settings}
        env.write_config()
        proc = env.run(*args, check=False)
        assert proc.returncode == 1, args
        assert "Traceback" not in proc.stderr + proc.stdout
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], (args, proc.stderr)
        for key in settings:
            del env.config["discogsgenres"][key]
    assert server.requests_count == 0
    # The import stage warns in one line and the import goes on.
    env.config["discogsgenres"].update(auto=True, write_genres="maybe")
    env.write_config()
    music(tmp_path / "more", [("Glenn Gould", "Bach: Goldberg Variations", 1982, ())])
    proc = env.run("import", str(tmp_path / "more"))
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "configuration error: discogsgenres.write_genres: expected one of" in proc.stderr
    assert env.run("ls", "-a", "album:Goldberg").stdout.strip()


def test_all_lookups_failing_on_the_network_is_exit_1(
    tmp_path: Path, server: StandinServer
) -> None:
    env = make_env(tmp_path, server)
    music(tmp_path / "in", [KRAFTWERK, ("Glenn Gould", "Bach: Goldberg Variations", 1982, ())])
    env.run("import", str(tmp_path / "in"))
    server.faults.inject("reset", times=None)
    proc = env.run("discogsgenres", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert "2 processed: 0 hits, 0 misses, 2 errors" in proc.stdout
    assert "all 2 lookups failed" in proc.stderr and "retried next run" in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr
    with sqlite3.connect(env.sidecar_path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM album_genres").fetchone()[0] == 0
    # One album answering is a partial success: exit 0, the failure counted.
    server.faults.clear()
    server.faults.inject("500", times=2)  # the first album's request and its one retry
    proc = env.run("discogsgenres", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "2 processed: 1 hits, 0 misses, 1 errors" in proc.stdout
    assert "1 albums failed and will be retried next run" in proc.stdout

"""The Discogs token: documented message when it is missing, never shown when it is there.

Each test goes through the real `beet` CLI against the stand-in, with the token in each place
beets-dspipeline reads it from (docs/configuration.md: `DISCOGS_TOKEN`, `discogsgenres.token`,
beets' `discogs.user_token`), and through an error whose text quotes the request's headers.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.beets_env import BeetsEnv
from devtools.demo_library import AlbumSpec, TrackSpec, write_library
from devtools.discogs_standin import Catalog, StandinServer

TOKEN = "tok-Qz81-secret-7d3e"

# docs/commands/discogsgenres.md, "Token": the exact three lines.
MISSING_TOKEN_LINES = [
    "ERROR: Discogs token required for production pipeline.",
    "Set DISCOGS_TOKEN environment variable or add discogsgenres.token to your beets config.",
    "Get token from: https://www.discogs.com/settings/developers",
]


@pytest.fixture
def server() -> Iterator[StandinServer]:
    cat = Catalog()
    cat.add_album("Kraftwerk", "Computer World", 1981, ["Electronic"], ["Synth-pop"])
    cat.add_album("Björk", "Homogenic", 1997, ["Electronic"], ["Trip Hop"])
    with StandinServer(cat, token=TOKEN, rate_limit_per_min=1000) as srv:
        yield srv


def music(root: Path) -> Path:
    albums = [("Kraftwerk", "Computer World", 1981), ("Björk", "Homogenic", 1997)]
    write_library(
        root, [AlbumSpec(a, t, y, "wav", [TrackSpec("One", 120, 60, 1.0)]) for a, t, y in albums]
    )
    return root


def make_env(root: Path, server: StandinServer, where: str) -> BeetsEnv:
    settings: dict[str, object] = {
        "discogsgenres": {"base_url": server.base_url, "retries": 0, "timeout": 2}
    }
    env: dict[str, str] = {}
    if where == "DISCOGS_TOKEN":
        env["DISCOGS_TOKEN"] = TOKEN
    elif where == "discogsgenres.token":
        settings["discogsgenres"]["token"] = TOKEN  # type: ignore[index]
    else:
        settings["discogs"] = {"user_token": TOKEN}
    return BeetsEnv(root, plugins=["discogsgenres"], settings=settings, env=env)


def outputs(*procs: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(p.stdout + "\n" + p.stderr for p in procs)


@pytest.mark.parametrize("where", ["DISCOGS_TOKEN", "discogsgenres.token", "discogs.user_token"])
def test_token_is_used_but_never_shown(tmp_path: Path, server: StandinServer, where: str) -> None:
    env = make_env(tmp_path / "beets", server, where)
    # Every request is refused with an error that quotes the Authorization header and URL.
    server.faults.inject("echo", times=None)
    imported = env.run("-vv", "import", str(music(tmp_path / "in")))
    failed = env.run("-vv", "discogsgenres", check=False)
    assert failed.returncode == 1  # documented: every lookup failed
    assert "2 errors" in failed.stdout and "all 2 lookups failed" in failed.stderr
    first = next(line for line in failed.stdout.splitlines() if line.startswith("  error: "))
    assert f"(first: {first.removeprefix('  error: ')}" in failed.stderr
    # The quoted header reached the output, with the token replaced.
    assert "Authorization: Discogs token=<token>" in failed.stdout
    server.faults.clear()
    worked = env.run("-vv", "discogsgenres")
    assert "2 processed: 2 hits" in worked.stdout  # the token from `where` was sent
    shown = env.run("config")
    everything = outputs(imported, failed, worked, shown)
    assert TOKEN not in everything
    assert "REDACTED" in shown.stdout  # `beet config` shows the key, hides the value
    for path in env.root.rglob("*"):
        if path.is_file() and path != env.config_path:
            assert TOKEN.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("plugin", ["buildartifacts", "dsreport"])
def test_beet_config_hides_the_token_whichever_plugin_reads_it(tmp_path: Path, plugin: str) -> None:
    # buildartifacts' discogs stage reads the token without the discogsgenres plugin loaded.
    env = BeetsEnv(
        tmp_path / "beets",
        plugins=[plugin],
        settings={"discogsgenres": {"token": TOKEN}, "discogs": {"user_token": TOKEN}},
    )
    shown = env.run("config")
    assert TOKEN not in shown.stdout + shown.stderr
    assert shown.stdout.count("REDACTED") == 2


def test_missing_token_prints_the_documented_lines(tmp_path: Path, server: StandinServer) -> None:
    env = BeetsEnv(
        tmp_path / "beets",
        plugins=["discogsgenres"],
        settings={"discogsgenres": {"base_url": server.base_url, "auto": False}},
    )
    env.run("import", str(music(tmp_path / "in")))
    proc = env.run("discogsgenres", check=False)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    start = lines.index(MISSING_TOKEN_LINES[0])
    assert lines[start : start + 3] == MISSING_TOKEN_LINES
    assert "Traceback" not in proc.stderr
    assert server.requests_count == 0

"""Each documented flag and setting of the commands changes what it says it changes.

Through the real `beet` CLI: every test compares a run with the flag (or setting) against one
without it, so a flag that is parsed but ignored fails here (docs/commands/*.md,
docs/configuration.md).
"""

from __future__ import annotations

import math
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from beetsplug._dspipeline.keys import album_key
from devtools.beets_env import ALL_PLUGINS, BeetsEnv
from devtools.demo_library import AlbumSpec, TrackSpec, write_library
from devtools.discogs_standin import Catalog, StandinServer
from tests.test_buildartifacts_plugin import JAZZ, library_albums, store_cluster_features

# -- dsplaylist ---------------------------------------------------------------------------------

JAZZ_ARTISTS = {artist for artist, _ in JAZZ}

# Sounds like the jazz albums (Chet Baker's sonic cluster) but carries only the genre "Electro":
# the genre gate of narrow/dynamic keeps it out of a jazz seed's playlist, discover lets it in.
ODD_ONE = AlbumSpec(
    "Chet Baker",
    "Electro Experiments",
    2001,
    "wav",
    [TrackSpec(f"Electro Experiments {n}", 100, 60, 1.0) for n in range(1, 4)],
    genres=["Electro"],
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BeetsEnv:
    """Jazz and techno albums (two sonic clusters) plus `ODD_ONE`, with artifacts built."""
    root = tmp_path_factory.mktemp("playlist")
    env = BeetsEnv(
        root / "beets", plugins=list(ALL_PLUGINS), settings={"discogsgenres": {"auto": False}}
    )
    write_library(root / "in", [*library_albums(), ODD_ONE])
    env.run("import", str(root / "in"))
    store_cluster_features(env)
    env.run("buildartifacts", "--stages", "genre-sim,artifacts,verify")
    return env


def playlist(env: BeetsEnv, *args: str) -> list[tuple[str, str]]:
    """(artist, title) of `beet dsplaylist -p` for one jazz seed, in playlist order."""
    out = env.run("dsplaylist", "title:Kind of Blue 1", "-p", *args).stdout
    entries = [line[2:].split(" – ", 2) for line in out.splitlines() if line[:2] in ("* ", "  ")]
    return [(artist, title) for artist, title, _score in entries]


def odd_ones(entries: list[tuple[str, str]]) -> int:
    return sum(title.startswith("Electro Experiments") for _, title in entries)


def with_settings(env: BeetsEnv, tmp_path: Path, **playlist_settings: object) -> BeetsEnv:
    """The same library under a second config file that adds `dsplaylist:` settings."""
    other = BeetsEnv(tmp_path / "cfg", plugins=list(ALL_PLUGINS), settings=env.config)
    other.config["dsplaylist"] = playlist_settings
    other.write_config()
    return other


# --strict: the filters alone decide (without it a short list is filled by relaxing them).
WIDE = ("-n", "30", "--max-per-artist", "15", "--strict")


def test_mode_flag_selects_the_mode(built: BeetsEnv) -> None:
    gated = {mode: playlist(built, *WIDE, "--mode", mode) for mode in ("narrow", "dynamic")}
    free = {mode: playlist(built, *WIDE, "--mode", mode) for mode in ("discover", "sonic-only")}
    assert playlist(built, *WIDE) == gated["dynamic"]  # the documented default
    for mode, entries in gated.items():
        assert odd_ones(entries) == 0 and len(entries) >= 3, mode
    for mode, entries in free.items():
        assert odd_ones(entries) == 3, mode
    assert {a for a, _ in gated["dynamic"]} <= JAZZ_ARTISTS


def test_relaxed_picks_carry_their_step(built: BeetsEnv) -> None:
    # Without --strict, dynamic fills the list by relaxing its gate: those picks say so.
    out = built.run("dsplaylist", "title:Kind of Blue 1", "-n", "30", "--max-per-artist", "15")
    lines = [line for line in out.stdout.splitlines() if line[:2] in ("* ", "  ")]
    assert lines[0].startswith("* Miles Davis – Kind of Blue 1") and "[" not in lines[0]
    odd = [line for line in lines if "Electro Experiments" in line]
    assert len(odd) == 3 and all(line.endswith("[gate]") for line in odd)


def test_journey_ends_at_the_first_match(built: BeetsEnv) -> None:
    out = built.run("dsplaylist", "title:Kind of Blue 1", "--to", "album:Homogenic", "-n", "5")
    lines = [line for line in out.stdout.splitlines() if line[:2] in ("* ", "  ")]
    assert lines[-1][2:].startswith("Björk – Homogenic 1 – ")


def test_configured_mode_and_mode_thresholds_are_used(built: BeetsEnv, tmp_path: Path) -> None:
    assert odd_ones(playlist(built, *WIDE)) == 0
    discover = with_settings(built, tmp_path / "a", mode="discover")
    assert odd_ones(playlist(discover, *WIDE)) == 3
    # dsplaylist.modes: dynamic with its gate and floor opened lets everything in ...
    opened = with_settings(
        built, tmp_path / "b", modes={"dynamic": {"genre_gate": 0.0, "sonic_floor": -1.0}}
    )
    entries = playlist(opened, *WIDE)
    assert odd_ones(entries) == 3 and {a for a, _ in entries} - JAZZ_ARTISTS
    # ... and closed, nothing but the seed is left.
    closed = with_settings(
        built, tmp_path / "c", modes={"dynamic": {"genre_gate": 1.0, "sonic_floor": 1.0}}
    )
    assert playlist(closed, *WIDE) == [("Miles Davis", "Kind of Blue 1")]


def test_max_per_artist_flag_and_setting(built: BeetsEnv, tmp_path: Path) -> None:
    count = ("-n", "12", "--mode", "discover", "--strict")
    # Documented: ceil(count / min(10, effective number of artists)), the effective number
    # being exp(entropy of the artists' track shares): here 5 artists of 3 tracks, Chet Baker 6.
    shares = [3 / 21] * 5 + [6 / 21]
    effective = math.exp(-sum(s * math.log(s) for s in shares))
    default_cap = math.ceil(12 / min(10, effective))
    default = Counter(a for a, _ in playlist(built, *count))
    assert default_cap == 3 and max(default.values()) == default_cap
    flagged = Counter(a for a, _ in playlist(built, *count, "--max-per-artist", "1"))
    assert max(flagged.values()) == 1 and sum(flagged.values()) < sum(default.values())
    configured = with_settings(built, tmp_path, max_per_artist=1)
    assert Counter(a for a, _ in playlist(configured, *count)) == flagged


def test_count_flag_and_setting(built: BeetsEnv, tmp_path: Path) -> None:
    # Without -n the documented default of 30 is asked for (the last line names it).
    assert "of 30 tracks (dynamic)" in built.run("dsplaylist", "title:Kind of Blue 1", "-p").stdout
    assert len(playlist(built, "--mode", "discover", "--max-per-artist", "5", "-n", "5")) == 5
    four = with_settings(built, tmp_path, count=4, max_per_artist=5)
    assert len(playlist(four, "--mode", "discover")) == 4


def test_output_relative_and_pretend(built: BeetsEnv, tmp_path: Path) -> None:
    m3u = tmp_path / "lists" / "a.m3u"
    m3u.parent.mkdir()
    seed = ("dsplaylist", "title:Kind of Blue 1", "-n", "3", "--mode", "discover")
    out = built.run(*seed, "-o", str(m3u)).stdout
    assert f"Wrote 3 tracks to {m3u}" in out and "3 of 3 tracks (discover)" in out
    paths = [line for line in m3u.read_text("utf-8").splitlines() if not line.startswith("#")]
    assert len(paths) == 3 and all(Path(p).is_absolute() and Path(p).exists() for p in paths)
    relative = tmp_path / "lists" / "b.m3u"
    built.run(*seed, "-o", str(relative), "--relative")
    rel = [line for line in relative.read_text("utf-8").splitlines() if not line.startswith("#")]
    assert [str((m3u.parent / p).resolve()) for p in rel] == [str(Path(p).resolve()) for p in paths]
    assert not any(Path(p).is_absolute() for p in rel)
    configured = tmp_path / "lists" / "c.m3u"
    with_settings(built, tmp_path / "cfg", relative=True).run(*seed, "-o", str(configured))
    assert configured.read_text("utf-8") == relative.read_text("utf-8")
    pretend = tmp_path / "lists" / "d.m3u"
    out = built.run(*seed, "-o", str(pretend), "-p").stdout
    assert not pretend.exists() and "3 of 3 tracks (discover)" in out


def copy_of(built: BeetsEnv, root: Path) -> BeetsEnv:
    """A copy of the built library (music, sidecar, artifacts) to change freely."""
    shutil.copytree(built.root, root)
    env = BeetsEnv(root, plugins=list(ALL_PLUGINS), settings=built.config)
    env.config.update(library=str(root / "library.db"), directory=str(root / "music"))
    env.write_config()
    return env


def test_stale_warning_after_a_library_change(built: BeetsEnv, tmp_path: Path) -> None:
    env = copy_of(built, tmp_path / "copy")
    assert "warning" not in env.run("dsplaylist", "title:Kind of Blue 1", "-p").stdout
    env.run("modify", "-y", "-W", "title:Chet 1", "genres=Hard Bop")  # -W: files untouched
    out = env.run("dsplaylist", "title:Kind of Blue 1", "-p").stdout
    assert "changed after the artifacts" in out and "beet buildartifacts" in out


def test_seeds_missing_from_the_artifacts_are_counted(built: BeetsEnv, tmp_path: Path) -> None:
    env = copy_of(built, tmp_path / "copy")
    new = AlbumSpec("New Artist", "Fresh", 2024, "wav", [TrackSpec("Brand New", 120, 60, 1.0)])
    write_library(tmp_path / "new", [new])
    env.run("import", str(tmp_path / "new"))
    out = env.run("dsplaylist", "title:Kind of Blue 1", ",", "title:Brand New", "-p").stdout
    assert "warning: 1 seed track(s) are not in the artifacts" in out


def test_no_sidecar_is_created_by_a_playlist(built: BeetsEnv, tmp_path: Path) -> None:
    env = copy_of(built, tmp_path / "copy")
    env.sidecar_path.unlink()
    out = env.run("dsplaylist", "title:Kind of Blue 1", "-p").stdout
    assert "Kind of Blue 1" in out and not env.sidecar_path.exists()


# -- discogsgenres ------------------------------------------------------------------------------

TOKEN = "flags-token"


@pytest.fixture
def server() -> Iterator[StandinServer]:
    cat = Catalog()
    # Released 1982 on Discogs, tagged 1981 in the library: a match that is not perfect.
    cat.add_album("Kraftwerk", "Computer World", 1982, ["Electronic"], ["Synth-pop"])
    with StandinServer(cat, token=TOKEN, rate_limit_per_min=1000) as srv:
        yield srv


def lookup(env: BeetsEnv) -> tuple[str, float | None]:
    with sqlite3.connect(env.sidecar_path) as conn:
        status, score = conn.execute(
            "SELECT status, score FROM discogs_lookups WHERE album_id = ?",
            (album_key("Kraftwerk", "Computer World"),),
        ).fetchone()
    return status, score


def discogs_library(
    tmp_path: Path, server: StandinServer, albums: list[tuple[str, str, int]], **settings: object
) -> BeetsEnv:
    """An imported library of one-track albums, discogsgenres pointed at the stand-in."""
    env = BeetsEnv(
        tmp_path / "beets",
        plugins=["discogsgenres"],
        settings={"discogsgenres": {"base_url": server.base_url, "auto": False, **settings}},
        env={"DISCOGS_TOKEN": TOKEN},
    )
    specs = [AlbumSpec(a, t, y, "wav", [TrackSpec("One", 120, 60, 1.0)]) for a, t, y in albums]
    write_library(tmp_path / "in", specs)
    env.run("import", str(tmp_path / "in"))
    return env


def test_threshold_flag_and_its_boundary(tmp_path: Path, server: StandinServer) -> None:
    env = discogs_library(tmp_path, server, [("Kraftwerk", "Computer World", 1981)])
    env.run("discogsgenres", "--threshold", "0")
    status, score = lookup(env)
    assert status == "hit" and score is not None and 0.55 < score < 1.0
    # A score equal to the threshold is accepted (docs: "minimum match score") ...
    env.run("discogsgenres", "--force", "--threshold", repr(score))
    assert lookup(env) == ("hit", score)
    # ... the next float above it is not, although the configured 0.55 would accept it.
    env.run("discogsgenres", "--force", "--threshold", repr(math.nextafter(score, 1.0)))
    assert lookup(env) == ("miss", None)
    # The setting is read when no flag is given.
    env.config["discogsgenres"]["threshold"] = math.nextafter(score, 1.0)
    env.write_config()
    env.run("discogsgenres", "--recheck-empty")
    assert lookup(env) == ("miss", None)
    env.config["discogsgenres"]["threshold"] = score
    env.write_config()
    env.run("discogsgenres", "--recheck-empty")
    assert lookup(env) == ("hit", score)


def test_exit_status_is_1_only_when_every_lookup_failed(
    tmp_path: Path, server: StandinServer
) -> None:
    server.catalog.add_album("Björk", "Homogenic", 1997, ["Electronic"], ["Trip Hop"])
    albums = [("Kraftwerk", "Computer World", 1981), ("Björk", "Homogenic", 1997)]
    albums.append(("The Nobodies", "Garage Tapes", 2019))  # not on Discogs: a miss
    env = discogs_library(tmp_path, server, albums, retries=0)
    server.faults.inject("500", times=None, query="release_title=Homogenic")
    proc = env.run("discogsgenres", check=False)
    assert "1 hits, 1 misses, 1 errors" in proc.stdout
    assert "Discogs: 1 albums failed and will be retried next run" in proc.stdout
    assert proc.returncode == 0  # documented: 1 only when every lookup failed
    server.faults.clear()
    server.faults.inject("500", times=None, query="release_title=Garage")
    proc = env.run("discogsgenres", "--force", check=False)
    assert "2 hits, 0 misses, 1 errors" in proc.stdout and proc.returncode == 0


# -- sonicanalysis ------------------------------------------------------------------------------


@pytest.fixture
def sonic_env(tmp_path: Path) -> BeetsEnv:
    """Three short tracks, imported, not analysed."""
    env = BeetsEnv(
        tmp_path / "beets", plugins=["sonicanalysis"], settings={"sonicanalysis": {"workers": 1}}
    )
    tracks = [TrackSpec(f"T{i}", 100 + 10 * i, 57 + i, 3.0, 0.6) for i in range(3)]
    write_library(tmp_path / "in", [AlbumSpec("Band", "Short Ones", 2020, "wav", tracks)])
    env.run("import", str(tmp_path / "in"))
    return env


def analysed_items(env: BeetsEnv) -> set[int]:
    if not env.sidecar_path.exists():
        return set()
    with sqlite3.connect(env.sidecar_path) as conn:
        return {i for (i,) in conn.execute("SELECT item_id FROM sonic_files")}


def failed_at(env: BeetsEnv) -> dict[int, float]:
    with sqlite3.connect(env.sidecar_path) as conn:
        return dict(conn.execute("SELECT item_id, failed_at FROM sonic_failures").fetchall())


def bpms(env: BeetsEnv) -> dict[str, int]:
    lines = env.run("ls", "-f", "$title\t$bpm").stdout.strip().splitlines()
    return {title: int(bpm) for title, bpm in (line.split("\t") for line in lines)}


def test_limit_analyses_at_most_n(sonic_env: BeetsEnv) -> None:
    out = sonic_env.run("sonicanalysis", "-p", "--limit", "1").stdout
    assert out.count("would analyse:") == 1
    sonic_env.run("sonicanalysis", "--limit", "2")
    assert len(analysed_items(sonic_env)) == 2
    sonic_env.run("sonicanalysis", "--limit", "2")
    assert len(analysed_items(sonic_env)) == 3


def test_retry_failed_decides_over_an_unchanged_failed_file(sonic_env: BeetsEnv) -> None:
    path = Path(sonic_env.run("ls", "-p", "title:T1").stdout.strip())
    path.write_bytes(b"RIFF not really a wave file" * 50)
    sonic_env.run("sonicanalysis")
    first = failed_at(sonic_env)
    assert len(first) == 1
    out = sonic_env.run("sonicanalysis").stdout
    assert "1 failed before (use --retry-failed)" in out
    assert failed_at(sonic_env) == first  # not tried again
    # The same unchanged file: only the flag makes the run try it again.
    out = sonic_env.run("sonicanalysis", "--retry-failed").stdout
    assert "0 analysed, 1 failed" in out
    (item_id,) = first
    assert failed_at(sonic_env)[item_id] > first[item_id]


def test_bpm_is_filled_only_when_empty_and_set_bpm_is_on(sonic_env: BeetsEnv) -> None:
    sonic_env.run("modify", "-y", "title:T0", "bpm=77")
    sonic_env.config["sonicanalysis"]["set_bpm"] = False
    sonic_env.write_config()
    sonic_env.run("sonicanalysis", "title:T1")
    assert bpms(sonic_env)["T1"] == 0  # set_bpm: no
    sonic_env.config["sonicanalysis"]["set_bpm"] = True
    sonic_env.write_config()
    sonic_env.run("sonicanalysis", "--force")
    got = bpms(sonic_env)
    assert got["T0"] == 77  # an existing bpm is kept
    assert got["T1"] > 0 and got["T2"] > 0


def test_tracks_without_a_known_length_add_no_audio_to_the_eta(sonic_env: BeetsEnv) -> None:
    # beets stores length 0 when it cannot read a file's duration: such a track counts as no
    # seconds of audio (the ETA then goes by tracks per second), not as a guessed second each,
    # in `sonicanalysis` and in the sonic stage of `buildartifacts` alike. Known lengths are
    # counted: test_sonicanalysis_plugin's "(0.5 min of audio)".
    sonic_env.run("modify", "-y", "-W", "length=0")
    sonic_env.config["plugins"] = ["sonicanalysis", "buildartifacts"]
    sonic_env.write_config()
    start = "Sonic: analysing 3 tracks (0.0 min of audio) with 1 worker"
    out = sonic_env.run("buildartifacts", "--stages", "sonic").stdout
    assert f"  {start}" in out.splitlines()
    out = sonic_env.run("sonicanalysis", "--force").stdout
    assert out.splitlines()[0] == start


@pytest.mark.parametrize("command", ["discogsgenres", "sonicanalysis", "buildartifacts"])
def test_limit_below_one_is_refused(tmp_path: Path, command: str) -> None:
    env = BeetsEnv(tmp_path / "beets", plugins=[command])
    for bad in ("0", "-1"):
        proc = env.run(command, "--limit", bad, check=False)
        assert proc.returncode == 1 and "--limit must be at least 1" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not env.sidecar_path.exists()
    accepted = env.run(command, "--limit", "1", "--dry-run", check=False)  # 1 is the least
    assert "--limit" not in accepted.stderr

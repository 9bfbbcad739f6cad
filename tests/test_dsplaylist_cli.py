"""`beet dsplaylist` flags, journeys and the `similar:` query through the real `beet` CLI.

Two real libraries of short audio files: six albums in two clusters (jazz, techno), and a
one-composer soundtrack. Sonic vectors go into the real sidecar with our Sidecar API (known
clusters, fast); `beet buildartifacts` builds the artifacts. Each test checks its flag against
the same command without it, so an ignored flag fails.
"""

from __future__ import annotations

import itertools
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from beetsplug._dspipeline.artifact_format import DATA_FILE, LAST_BUILD_REPORT_FILE, RUN_REPORT_FILE
from beetsplug._dspipeline.keys import album_key
from beetsplug._dspipeline.sidecar import Sidecar
from devtools.beets_env import ALL_PLUGINS, BeetsEnv
from devtools.demo_library import AlbumSpec, TrackSpec, write_library
from tests.stored_vectors import store_item_vectors

JAZZ = [("Miles Davis", "Kind of Blue"), ("Bill Evans", "Portrait in Jazz"), ("Chet Baker", "Chet")]
TECHNO = [("Jeff Mills", "Waveform"), ("Björk", "Homogenic"), ("坂本龍一", "音楽図鑑")]
BUILD = ("buildartifacts", "--stages", "genre-sim,artifacts,verify")


def _store_features(env: BeetsEnv, centre_of: dict[str, np.ndarray], spread: float) -> None:
    """One vector per item near its album artist's centre, written to the real sidecar."""
    rng = np.random.default_rng(0)
    store_item_vectors(env, lambda _, artist: centre_of[artist] + spread * rng.normal(size=137))


def _make_env(root: Path, albums: list[AlbumSpec], settings: dict[str, object]) -> BeetsEnv:
    env = BeetsEnv(
        root / "beets",
        plugins=[*ALL_PLUGINS, "smartplaylist"],
        settings={"discogsgenres": {"auto": False}, **settings},
    )
    write_library(root / "in", albums)
    env.run("import", str(root / "in"))
    return env


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> BeetsEnv:
    """Six albums of three tracks: jazz near one point, techno near another; Discogs genres."""
    root = tmp_path_factory.mktemp("two-clusters")
    albums = [
        AlbumSpec(
            artist, album, 2000, "wav", [TrackSpec(f"{album} {n}", 100, 60, 1.0) for n in (1, 2, 3)]
        )
        for artist, album in JAZZ + TECHNO
    ]
    settings = {
        "smartplaylist": {
            "auto": False,
            "playlist_dir": str(root / "playlists"),
            "relative_to": None,
            "playlists": [
                {"name": "like-kind-of-blue.m3u", "query": "'similar:title:Kind of Blue 1'"}
            ],
        },
        "dsplaylist": {"similar_k": 4},
    }
    env = _make_env(root, albums, settings)
    rng = np.random.default_rng(1)
    jazz, techno = rng.normal(size=137), rng.normal(size=137) + 3
    _store_features(env, {a: jazz for a, _ in JAZZ} | {a: techno for a, _ in TECHNO}, 0.3)
    with Sidecar(env.sidecar_path).transaction() as conn:
        for (artist, album), genre in [(a, "jazz") for a in JAZZ] + [(a, "techno") for a in TECHNO]:
            conn.execute(
                "INSERT INTO album_genres VALUES (?, ?, 'discogs_release')",
                (album_key(artist, album), genre),
            )
    env.run(*BUILD)
    return env


@pytest.fixture(scope="module")
def soundtrack(tmp_path_factory: pytest.TempPathFactory) -> BeetsEnv:
    """One composer, two albums of eight tracks, one genre from the files' tags."""
    root = tmp_path_factory.mktemp("soundtrack")
    albums = [
        AlbumSpec(
            "Frank Klepacki",
            name,
            1996,
            "wav",
            [TrackSpec(f"{name} {n}", 100, 60, 1.0) for n in range(1, 9)],
            genres=("Soundtrack",),
        )
        for name in ("Red Alert", "Dune 2000")
    ]
    # One cloud of random vectors has cosines around 0: no sonic floor, so the caps decide.
    env = _make_env(root, albums, {"dsplaylist": {"modes": {"dynamic": {"sonic_floor": -1.0}}}})
    _store_features(env, {"Frank Klepacki": np.zeros(137)}, 1.0)
    env.run(*BUILD)
    return env


def _listed(out: str) -> list[tuple[bool, str, str]]:
    """(is seed, artist, title) of each printed playlist line."""
    rows = []
    for line in out.splitlines():
        if line.startswith(("* ", "  ")) and " – " in line and not line.startswith("      "):
            artist, title = line[2:].split(" – ")[:2]
            rows.append((line.startswith("*"), artist, title))
    return rows


def _json(env: BeetsEnv, *args: str) -> dict[str, object]:
    proc = env.run("dsplaylist", *args, "--format", "json")
    return json.loads(proc.stdout)


def test_full_length_on_a_one_artist_library(soundtrack: BeetsEnv) -> None:
    out = soundtrack.run("dsplaylist", "title:Red Alert 1", "-n", "12", "--strict").stdout
    rows = _listed(out)
    # Default caps suit one composer: 12 / min(10, 1 artist) per artist, 12 / 2 albums each.
    assert len(rows) == 12 and "12 of 12 tracks" in out
    albums = Counter(title.rsplit(" ", 1)[0] for _, _, title in rows)
    assert albums == {"Red Alert": 6, "Dune 2000": 6}
    # With the old one-tenth cap a strict list would stop at 2 tracks.
    capped = soundtrack.run(
        "dsplaylist", "title:Red Alert 1", "-n", "12", "--strict", "--max-per-artist", "2"
    ).stdout
    assert len(_listed(capped)) == 2 and "--strict" in capped


def test_relaxation_fills_the_list_and_strict_refuses(env: BeetsEnv) -> None:
    relaxed = _json(env, "title:Kind of Blue 1", "-n", "12")
    strict = _json(env, "title:Kind of Blue 1", "-n", "12", "--strict")
    assert len(relaxed["tracks"]) == 12  # type: ignore[arg-type]
    assert len(strict["tracks"]) < 12  # type: ignore[arg-type]
    assert {t["step"] for t in strict["tracks"]} <= {"seed", "match"}  # type: ignore[union-attr]
    counts = relaxed["counts"]
    assert (
        isinstance(counts, dict) and sum(counts.values()) == 12 and set(counts) - {"seed", "match"}
    )
    out = env.run("dsplaylist", "title:Kind of Blue 1", "-n", "12").stdout
    assert "12 of 12 tracks (dynamic): 1 seed, " in out and "relaxed" in out


def test_max_seeds_and_seeds_steer(env: BeetsEnv) -> None:
    default = _listed(env.run("dsplaylist", "album:Kind of Blue", "artist:Miles", "-n", "6").stdout)
    one = _listed(env.run("dsplaylist", "album:Kind of Blue", "-n", "6", "--max-seeds", "1").stdout)
    assert [seed for seed, _, _ in default].count(True) == 3
    assert [seed for seed, _, _ in one].count(True) == 1 and one[0][0]
    # The seeds that do not lead are not listed again as picks.
    assert not any(artist == "Miles Davis" for seed, artist, _ in one if not seed)


def test_max_seeds_setting(env: BeetsEnv, tmp_path: Path) -> None:
    other = BeetsEnv(tmp_path / "cfg", plugins=env.config["plugins"], settings=env.config)
    other.config["dsplaylist"] = {**env.config["dsplaylist"], "max_seeds": 2}
    other.write_config()
    rows = _listed(other.run("dsplaylist", "album:Kind of Blue", "-n", "6").stdout)
    assert [seed for seed, _, _ in rows].count(True) == 2


def test_artist_and_album_seeds_fill_with_others(env: BeetsEnv) -> None:
    for flag, value in (("--artist", "Bill Evans"), ("--album", "Portrait")):
        rows = _listed(env.run("dsplaylist", flag, value, "-n", "8").stdout)
        assert len(rows) == 8 and rows[0][0] and rows[0][1] == "Bill Evans"
        picks = [(artist, title) for seed, artist, title in rows if not seed]
        assert picks and all(artist != "Bill Evans" for artist, _ in picks), (flag, rows)
    # A seed query without the flag lets the artist's other tracks in: the flag is what excludes.
    rows = _listed(env.run("dsplaylist", "title:Portrait in Jazz 1", "-n", "8").stdout)
    assert any(artist == "Bill Evans" for seed, artist, _ in rows if not seed)


def test_exclude(env: BeetsEnv) -> None:
    args = ("dsplaylist", "title:Kind of Blue 1", "-n", "8")
    assert any(a == "Chet Baker" for _, a, _ in _listed(env.run(*args).stdout))
    rows = _listed(env.run(*args, "--exclude", "artist:Chet").stdout)
    assert len(rows) == 8 and not any(a == "Chet Baker" for _, a, _ in rows)
    proc = env.run(*args, "--exclude", "artist:nobody-at-all", check=False)
    assert (
        proc.returncode == 1 and "--exclude query" in proc.stderr and "Traceback" not in proc.stderr
    )


def test_max_per_album(env: BeetsEnv) -> None:
    args = ("dsplaylist", "title:Kind of Blue 1", "-n", "6", "--strict", "--max-per-artist", "3")
    loose = Counter(t.rsplit(" ", 1)[0] for _, _, t in _listed(env.run(*args).stdout))
    tight = Counter(
        t.rsplit(" ", 1)[0] for _, _, t in _listed(env.run(*args, "--max-per-album", "1").stdout)
    )
    assert max(loose.values()) > 1 and max(tight.values()) == 1


def test_explain_names_the_rejected_and_why(env: BeetsEnv) -> None:
    args = ("dsplaylist", "title:Kind of Blue 1", "-n", "8", "--strict")
    plain = env.run(*args).stdout
    out = env.run(*args, "--explain").stdout
    assert "passed over" not in plain and "not listed" not in plain
    reasons = [line for line in out.splitlines() if "passed over:" in line or "not listed:" in line]
    # 8 / min(10, 6 artists) = 2 per artist: the third jazz track of each artist is refused.
    assert reasons and any("artist cap (2 per artist)" in line for line in reasons)
    gated = env.run(
        "dsplaylist", "title:Kind of Blue 1", "-n", "12", "--explain", "--max-per-artist", "3"
    ).stdout
    assert "genre similarity 0.00 < gate 0.30" in gated


def test_json_output(env: BeetsEnv, tmp_path: Path) -> None:
    doc = _json(env, "title:Kind of Blue 1", "-n", "5")
    tracks = doc["tracks"]
    assert isinstance(tracks, list) and len(tracks) == 5
    first = tracks[0]
    assert first["title"] == "Kind of Blue 1" and first["step"] == "seed"
    assert set(first) >= {"id", "path", "artist", "title", "score", "step"}
    assert all(Path(t["path"]).exists() for t in tracks)
    target = tmp_path / "list.json"
    env.run("dsplaylist", "title:Kind of Blue 1", "-n", "5", "--format", "json", "-o", str(target))
    assert json.loads(target.read_text("utf-8"))["tracks"] == tracks
    m3u = env.run("dsplaylist", "title:Kind of Blue 1", "-n", "5", "-o", str(tmp_path / "l.m3u"))
    assert (tmp_path / "l.m3u").read_text("utf-8").startswith("#EXTM3U") and m3u.returncode == 0


def _embedding(env: BeetsEnv) -> dict[int, np.ndarray]:
    with np.load(env.out_dir / DATA_FILE, allow_pickle=False) as data:
        return dict(zip(data["item_ids"].tolist(), data["dsp_hybrid_embedding"], strict=True))


def test_journey_through_a_waypoint(env: BeetsEnv) -> None:
    doc = _json(
        env,
        "title:Kind of Blue 1",
        "--via",
        "title:Chet 3",
        "--to",
        "title:Homogenic 2",
        "-n",
        "10",
    )
    tracks = doc["tracks"]
    assert isinstance(tracks, list) and len(tracks) == 10
    titles = [t["title"] for t in tracks]
    assert titles[0] == "Kind of Blue 1" and titles[-1] == "Homogenic 2"
    via = titles.index("Chet 3")
    assert len(set(titles)) == 10
    vectors = _embedding(env)
    path = [vectors[t["id"]] for t in tracks]
    steps = [float(np.linalg.norm(b - a)) for a, b in itertools.pairwise(path)]
    assert doc["largest_step"] == pytest.approx(max(steps), abs=1e-4)
    # Monotone progress to the next waypoint: the waypoint, then the end.
    for start, end in ((0, via), (via, 9)):
        to_goal = [float(np.linalg.norm(path[i] - path[end])) for i in range(start, end + 1)]
        assert all(b < a for a, b in itertools.pairwise(to_goal)), to_goal
    # Without --via the journey need not pass Chet 3.
    direct = _json(env, "title:Kind of Blue 1", "--to", "title:Homogenic 2", "-n", "4")
    assert len(direct["tracks"]) == 4  # type: ignore[arg-type]


def test_journey_errors(env: BeetsEnv) -> None:
    proc = env.run(
        "dsplaylist", "title:Kind of Blue 1", "--to", "title:Kind of Blue 1", check=False
    )
    assert proc.returncode == 1 and "different tracks" in proc.stderr
    proc = env.run("dsplaylist", "title:Kind of Blue 1", "--via", "title:Chet 1", check=False)
    assert proc.returncode == 1 and "--via needs --to" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def _titles(out: str) -> list[str]:
    return [line.split(" - ")[-1] for line in out.strip().splitlines()]


def test_similar_query_composes_with_other_queries(env: BeetsEnv) -> None:
    near = _titles(env.run("ls", "similar:title:Kind of Blue 1").stdout)
    # similar_k: 4 in the config; the seed itself is left out; all four are jazz.
    assert len(near) == 4 and "Kind of Blue 1" not in near
    jazz_titles = {f"{album} {n}" for _, album in JAZZ for n in (1, 2, 3)}
    assert set(near) <= jazz_titles
    chet = _titles(env.run("ls", "similar:title:Kind of Blue 1", "artist:Chet").stdout)
    assert chet and set(chet) == {t for t in near if t.startswith("Chet")}
    either = _titles(env.run("ls", "similar:title:Kind of Blue 1", ",", "title:Homogenic 1").stdout)
    assert set(either) == set(near) | {"Homogenic 1"}
    albums = env.run("ls", "-a", "similar:title:Kind of Blue 1").stdout
    assert "Homogenic" not in albums and "Chet" in albums


def test_similar_query_in_smartplaylist(env: BeetsEnv) -> None:
    env.run("splupdate")
    playlist = Path(env.config["smartplaylist"]["playlist_dir"]) / "like-kind-of-blue.m3u"
    paths = [line for line in playlist.read_text("utf-8").splitlines() if line and line[0] != "#"]
    near = _titles(env.run("ls", "similar:title:Kind of Blue 1").stdout)
    assert len(paths) == 4 and sorted(Path(p).stem.split(" ", 1)[1] for p in paths) == sorted(near)


@pytest.fixture
def moved_artifacts(env: BeetsEnv, tmp_path: Path) -> Iterator[Path]:
    """The artifacts moved to another folder (as a subset build writes them) and back."""
    elsewhere = tmp_path / "subset"
    shutil.move(env.out_dir, elsewhere)
    try:
        yield elsewhere
    finally:
        shutil.move(elsewhere, env.out_dir)


def test_artifacts_option(env: BeetsEnv, moved_artifacts: Path, tmp_path: Path) -> None:
    args = ("dsplaylist", "title:Kind of Blue 1", "-n", "4")
    proc = env.run(*args, check=False)
    assert proc.returncode == 1 and "beet buildartifacts" in proc.stderr
    assert len(_listed(env.run(*args, "--artifacts", str(moved_artifacts)).stdout)) == 4
    proc = env.run(*args, "--artifacts", str(tmp_path / "nowhere"), check=False)
    assert proc.returncode == 1 and "nowhere" in proc.stderr and "Traceback" not in proc.stderr
    # The similar: query reads the full build: without it, a one-line error.
    proc = env.run("ls", "similar:title:Kind of Blue 1", check=False)
    assert proc.returncode == 1 and "beet buildartifacts" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_report_artifacts_option(env: BeetsEnv, moved_artifacts: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    plain = tmp_path / "plain.html"
    env.run("dsreport", "-o", str(plain))
    assert "is not built yet" in plain.read_text("utf-8")
    chosen = tmp_path / "chosen.html"
    env.run("dsreport", "--artifacts", str(moved_artifacts), "-o", str(chosen))
    html = chosen.read_text("utf-8")
    assert "is not built yet" not in html and html.count("<circle") == 18
    # The map is coloured by album (six albums), named as beets knows them.
    assert "coloured by album" in html and "Miles Davis – Kind of Blue" in html
    proc = env.run("dsreport", "--artifacts", str(tmp_path / "nowhere"), check=False)
    assert proc.returncode == 1 and "nowhere" in proc.stderr and "Traceback" not in proc.stderr
    # Without -o the report goes into the artifacts folder read (a copy: the fixture's stays).
    copy = tmp_path / "copy"
    shutil.copytree(moved_artifacts, copy)
    env.run("dsreport", "--artifacts", str(copy))
    written = (copy / "dspipeline_report.html").read_bytes()
    assert written.count(b"<circle") == 18
    # A damaged artifact: one line naming it, and the report there before is left whole.
    matrices = copy / "data_matrices_step1.npz"
    matrices.write_bytes(matrices.read_bytes()[:200])
    proc = env.run("dsreport", "--artifacts", str(copy), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "data_matrices_step1.npz" in proc.stderr.strip().splitlines()[-1]
    assert (copy / "dspipeline_report.html").read_bytes() == written


def test_report_keeps_the_last_full_build_beside_the_last_call(
    env: BeetsEnv, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    env.run(*BUILD)  # nothing changed since the fixture's build: a no-op call
    last_call = json.loads((env.out_dir / RUN_REPORT_FILE).read_text("utf-8"))
    last_build = json.loads((env.out_dir / LAST_BUILD_REPORT_FILE).read_text("utf-8"))
    assert not any(s["result"] in ("ok", "warning") for s in last_call["stages"][:-1])
    assert any(s["result"] == "ok" for s in last_build["stages"])
    report = tmp_path / "r.html"
    env.run("dsreport", "-o", str(report))
    html = report.read_text("utf-8")
    assert "<h3>Last call</h3>" in html and "<h3>Last full build</h3>" in html
    assert last_build["started_at"] in html and last_call["started_at"] in html
    assert ">True<" not in html and ">None<" not in html

"""Fault injection through the real `beet` CLI: a corrupt sidecar, a full disk, config typos,
bad output paths, stale temporary files and other things a library or machine throws at us.

Every test asserts what docs/troubleshooting.md promises: no traceback, the documented exit
status and message, the data intact (hashes of the sidecar rows / npz files before and after)
and no process of ours left behind. Disk-full tests mount a small tmpfs: they need root and skip
otherwise.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from beetsplug._dspipeline.keys import album_key
from beetsplug._dspipeline.sidecar import FileIdentity, Sidecar, StoredFeatures
from devtools.beets_env import ALL_PLUGINS, BeetsEnv
from devtools.demo_library import AlbumSpec, TrackSpec, write_library
from tests.stored_vectors import stored_features

ALBUMS = [
    AlbumSpec(
        "Fault Band",
        "Broken Things",
        2020,
        "wav",
        [TrackSpec(f"Song {n}", 90 + 10 * n, 57 + n, 3.0) for n in range(1, 4)],
    ),
    AlbumSpec(
        "Other Band",
        "Whole Things",
        2021,
        "wav",
        [TrackSpec(f"Tune {n}", 120 + 5 * n, 60 + n, 3.0) for n in range(1, 4)],
    ),
]
BUILD = ("buildartifacts", "--stages", "genre-sim,artifacts,verify")
DATA_FILE = "data_matrices_step1.npz"
RUN_REPORT = "analyze_run_report.json"


# -- helpers ----------------------------------------------------------------------------------


def beet(env: BeetsEnv, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    """Run ``beet ARGS``: no traceback, exit status ``code``, nothing of ours left running."""
    proc = env.run(*args, check=False)
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}\n{output}"
    deadline = time.monotonic() + 5
    while env.processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not env.processes(), f"processes left behind after beet {' '.join(args)}"
    return proc


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line (beets prints ``error: …`` or ``configuration error: …``)."""
    lines = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dir_hashes(directory: Path) -> dict[str, str]:
    return {p.name: file_hash(p) for p in sorted(directory.iterdir()) if p.is_file()}


def sidecar_rows_hash(path: Path) -> str:
    """A hash of every row of every table (independent of pages, WAL and free space)."""
    digest = hashlib.sha256()
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in sorted(tables):
            for row in sorted(conn.execute(f"SELECT * FROM {table}"), key=repr):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def fake_features(key: str, rng: np.random.Generator) -> StoredFeatures:
    return stored_features(key, rng.normal(size=137))


def store_features(env: BeetsEnv, extra_rows: int = 0) -> None:
    """Vectors for every item (and ``extra_rows`` of items long gone), without analysing."""
    rng = np.random.default_rng(0)
    lines = env.run("ls", "-f", "$id\t$path").stdout.strip().splitlines()
    with Sidecar(env.sidecar_path) as sidecar:
        rows = []
        for line in lines:
            item_id, path = line.split("\t")
            st = Path(path).stat()
            ident = FileIdentity(os.fsencode(path), st.st_size, st.st_mtime)
            rows.append((int(item_id), ident, fake_features(f"k{item_id}", rng)))
        for n in range(extra_rows):
            ident = FileIdentity(f"/gone/{n}.flac".encode(), 1, 0.0)
            rows.append((10_000 + n, ident, fake_features(f"gone{n}", rng)))
        sidecar.store_features_many(rows)
        with sidecar.transaction() as conn:
            for album, genre in zip(ALBUMS, ("jazz", "techno"), strict=True):
                conn.executemany(
                    "INSERT INTO album_genres VALUES (?, ?, 'discogs_release')",
                    [(album_key(album.albumartist, album.album), g) for g in (genre, "music")],
                )


@pytest.fixture
def env(tmp_path: Path) -> BeetsEnv:
    env = BeetsEnv(
        tmp_path / "beets",
        plugins=list(ALL_PLUGINS),
        settings={"discogsgenres": {"auto": False}, "sonicanalysis": {"workers": 1}},
    )
    write_library(tmp_path / "in", ALBUMS)
    env.run("import", str(tmp_path / "in"))
    return env


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs: a filesystem we can fill. Needs root (mount); skips otherwise."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path, leave: int = 0) -> None:
    """Fill the filesystem at ``mount`` until at most ``leave`` bytes are free."""
    with open(mount / "filler", "ab") as handle:
        chunk = b"\0" * 65536
        try:
            while True:
                st = os.statvfs(mount)
                free = st.f_bavail * st.f_frsize
                if free <= leave:
                    break
                handle.write(chunk[: min(len(chunk), free - leave)])
                handle.flush()
        except OSError:
            pass


# -- defect 3: a sidecar corrupt in the middle ------------------------------------------------


def test_sidecar_corrupt_in_the_middle_is_one_line_for_every_command(env: BeetsEnv) -> None:
    store_features(env, extra_rows=120)  # a sidecar of ~0.5 MB, pages of every table
    size = env.sidecar_path.stat().st_size
    with open(env.sidecar_path, "r+b") as handle:  # header stays valid
        handle.seek(size // 2)
        handle.write(np.random.default_rng(1).bytes(20 * 1024))
    before = file_hash(env.sidecar_path)
    for args in (
        ("sonicanalysis",),
        ("sonicanalysis", "-p"),
        ("buildartifacts", "--stages", "verify"),
        ("dsreport",),
    ):
        proc = beet(env, *args, code=1)
        line = error_line(proc)
        assert str(env.sidecar_path) in line and "malformed" in line, line
        assert ".recover" in line and "backup" in line, line
        assert file_hash(env.sidecar_path) == before  # nothing written into a damaged file


# -- defect 4: disk full ----------------------------------------------------------------------


def test_out_dir_on_a_full_disk(env: BeetsEnv, tmpfs: Path) -> None:
    store_features(env)
    out = tmpfs / "artifacts"
    env.config["dspipeline"] = {"out_dir": str(out)}
    env.write_config()
    beet(env, *BUILD)
    old = dir_hashes(out)
    fill(tmpfs)
    proc = beet(env, *BUILD, "--force", code=1)
    output = proc.stdout + proc.stderr
    assert "No space left on device" in output
    assert sum("No space left on device" in line for line in output.splitlines()) >= 1
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # temp files removed
    after = dir_hashes(out)
    assert {k: v for k, v in after.items() if k != RUN_REPORT} == {
        k: v for k, v in old.items() if k != RUN_REPORT
    }


def test_out_dir_nearly_full_still_gets_the_run_report(env: BeetsEnv, tmpfs: Path) -> None:
    store_features(env)
    out = tmpfs / "artifacts"
    env.config["dspipeline"] = {"out_dir": str(out)}
    env.write_config()
    beet(env, *BUILD)
    old = dir_hashes(out)
    (out / RUN_REPORT).unlink()
    fill(tmpfs, leave=16 * 1024)  # room for the report, not for the matrices
    proc = beet(env, *BUILD, "--force", code=1)
    assert "No space left on device" in proc.stdout + proc.stderr
    assert (out / RUN_REPORT).exists()
    assert '"ok": false' in (out / RUN_REPORT).read_text("utf-8")
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert dir_hashes(out)[DATA_FILE] == old[DATA_FILE]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sidecar_on_a_full_disk_while_storing_features(
    env: BeetsEnv, tmpfs: Path, workers: str
) -> None:
    sidecar = tmpfs / "dspipeline.db"
    env.config["dspipeline"] = {"sidecar": str(sidecar)}
    env.write_config()
    beet(env, "sonicanalysis", "title:Song 1")
    before = sidecar_rows_hash(sidecar)
    fill(tmpfs)
    proc = beet(env, "sonicanalysis", "-j", workers, code=1)
    line = error_line(proc)
    assert str(sidecar) in line and "full" in line and "free space" in line, line
    assert sidecar_rows_hash(sidecar) == before


def test_sidecar_on_a_full_disk_during_the_migration(env: BeetsEnv, tmpfs: Path) -> None:
    from beetsplug._dspipeline.sidecar import _MIGRATIONS

    sidecar = tmpfs / "dspipeline.db"
    with sqlite3.connect(sidecar) as conn:  # a sidecar of schema version 1 (an older release)
        for statement in _MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute("INSERT INTO album_genres VALUES ('a', 'jazz', 'discogs_release')")
        conn.execute("PRAGMA user_version = 1")
    conn.close()
    env.config["dspipeline"] = {"sidecar": str(sidecar)}
    env.write_config()
    before = sidecar_rows_hash(sidecar)
    fill(tmpfs)
    proc = beet(env, "dsreport", "-o", str(env.root / "report.html"), code=1)
    line = error_line(proc)
    assert str(sidecar) in line and "free space" in line, line
    assert sidecar_rows_hash(sidecar) == before
    with sqlite3.connect(sidecar) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


# -- defect 5: typos in the config and the command line ---------------------------------------


@pytest.mark.parametrize(
    ("section", "key", "value", "command"),
    [
        ("buildartifacts", "tower_weights", "abc", ("buildartifacts", "-p")),
        ("buildartifacts", "tower_components", "abc", ("buildartifacts", "-p")),
        ("buildartifacts", "max_genres", -5, ("buildartifacts", "-p")),
        ("buildartifacts", "hybrid_weights", [1, "x"], ("buildartifacts", "-p")),
        ("dsplaylist", "modes", {"dynamic": {"genre_gate": "high"}}, ("dsplaylist", "x")),
        ("dsplaylist", "count", 0, ("dsplaylist", "x")),
        ("sonicanalysis", "workers", "many", ("sonicanalysis", "-p")),
        ("sonicanalysis", "executor", "cluster", ("sonicanalysis", "-p")),
        ("discogsgenres", "threshold", 7, ("discogsgenres", "-p")),
        ("discogsgenres", "retries", -1, ("discogsgenres", "-p")),
    ],
)
def test_config_typo_is_one_line_naming_the_key(
    env: BeetsEnv, section: str, key: str, value: object, command: tuple[str, ...]
) -> None:
    env.config[section] = {**env.config.get(section, {}), key: value}
    env.write_config()
    proc = beet(env, *command, code=1)
    line = error_line(proc)
    assert f"{section}.{key}" in line and "expected" in line, line
    assert not env.sidecar_path.exists()  # checked before any work


def test_config_typo_during_an_import_is_a_warning_and_the_import_goes_on(tmp_path: Path) -> None:
    # beets raises a bad value from an import listener as "configuration error", exit 1, and
    # stops the import: the auto stages check their section first and step aside instead.
    settings = {"sonicanalysis": {"auto": True, "workers": "many"}, "discogsgenres": {}}
    settings["discogsgenres"] = {"auto": True, "threshold": "high", "write_genres": "maybe"}
    env = BeetsEnv(tmp_path / "beets", plugins=list(ALL_PLUGINS), settings=settings)
    write_library(tmp_path / "in", ALBUMS)
    proc = beet(env, "import", str(tmp_path / "in"))
    warnings = [line for line in proc.stderr.splitlines() if "configuration error" in line]
    assert any("sonicanalysis.workers: expected an integer" in w for w in warnings), warnings
    assert any("discogsgenres.threshold: expected a number" in w for w in warnings), warnings
    imported = env.run("ls", "-f", "$title").stdout.splitlines()
    assert len(imported) == sum(len(album.tracks) for album in ALBUMS)


def test_out_dir_that_is_a_file(env: BeetsEnv) -> None:
    store_features(env)
    target = env.root / "not-a-dir"
    target.write_text("x")
    env.config["dspipeline"] = {"out_dir": str(target)}
    env.write_config()
    before = sidecar_rows_hash(env.sidecar_path)
    for args in (BUILD, ("dsreport",)):
        line = error_line(beet(env, *args, code=1))
        assert "dspipeline.out_dir" in line and "is a file" in line, line
    assert target.read_text() == "x"
    assert sidecar_rows_hash(env.sidecar_path) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("dsplaylist", "-o", "{root}", "title:Song 1"), "is a directory"),
        (("dsplaylist", "-o", "/etc/passwd/x.m3u", "title:Song 1"), "/etc/passwd is not a dir"),
        (("dsreport", "-o", "/etc/passwd/x.html"), "/etc/passwd is not a directory"),
        (("buildartifacts", "--out-dir", "/etc/passwd/x"), "/etc/passwd is not a directory"),
        (("sonicanalysis", "-j", "-3"), "--workers"),
        (("dsplaylist", "-n", "0", "title:Song 1"), "--count must be at least 1"),
    ],
)
def test_bad_option_is_one_line_before_any_work(
    env: BeetsEnv, args: tuple[str, ...], expected: str
) -> None:
    proc = beet(env, *(a.format(root=env.root) for a in args), code=1)
    assert expected in error_line(proc)
    assert not env.sidecar_path.exists() and not env.out_dir.exists()


def test_report_into_a_directory_named_with_a_slash(env: BeetsEnv) -> None:
    store_features(env)
    beet(env, "dsreport", "-o", f"{env.root}/reports/")
    assert (env.root / "reports" / "dspipeline_report.html").is_file()


# -- smaller items ----------------------------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_temp_files_of_a_crashed_writer_are_removed(env: BeetsEnv) -> None:
    store_features(env)
    beet(env, *BUILD)
    stale = env.out_dir / f".{DATA_FILE}.{dead_pid()}-0123456789ab.tmp"
    stale.write_bytes(b"half an npz")
    foreign = env.out_dir / ".notes.txt.tmp"  # not ours: left alone
    foreign.write_bytes(b"x")
    beet(env, *BUILD, "--force")
    assert not stale.exists() and foreign.exists()


def test_npz_files_get_the_umask_mode(env: BeetsEnv) -> None:
    store_features(env)
    old = os.umask(0o022)
    try:
        beet(env, *BUILD)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in env.out_dir.iterdir()}
    assert modes[DATA_FILE] == 0o644 and modes[RUN_REPORT] == 0o644, modes


def test_one_missing_file_is_worded_as_missing(env: BeetsEnv) -> None:
    store_features(env)
    path = env.run("ls", "-f", "$path", "title:Song 1").stdout.strip()
    Path(path).unlink()
    proc = beet(env, "buildartifacts", "--stages", "sonic")
    line = next(line for line in proc.stdout.splitlines() if line.strip().startswith("sonic:"))
    assert "1 missing" in line and "tracks failed" not in line, line


def test_sidecar_in_a_missing_directory_is_announced(env: BeetsEnv) -> None:
    sidecar = env.root / "new" / "place" / "dspipeline.db"
    env.config["dspipeline"] = {"sidecar": str(sidecar)}
    env.write_config()
    proc = beet(env, "dsreport")
    assert f"new sidecar at {sidecar}" in proc.stdout and sidecar.is_file()
    assert "new sidecar" not in beet(env, "dsreport").stdout  # only the first time


def test_zero_byte_sidecar_is_taken_as_new_with_a_word(env: BeetsEnv) -> None:
    env.sidecar_path.write_bytes(b"")
    proc = beet(env, "dsreport")
    assert "was empty (0 bytes)" in proc.stdout
    with sqlite3.connect(env.sidecar_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    conn.close()


# -- token messages ---------------------------------------------------------------------------

TOKEN_LINES = [
    "ERROR: Discogs token required for production pipeline.",
    "Set DISCOGS_TOKEN environment variable or add discogsgenres.token to your beets config.",
    "Get token from: https://www.discogs.com/settings/developers",
]


def test_no_token_default_build_is_a_skipped_stage_with_the_reason(env: BeetsEnv) -> None:
    store_features(env)
    dry = beet(env, "buildartifacts", "-p").stdout
    assert "skipped: no Discogs token" in dry and "would fail" not in dry, dry
    proc = beet(env, "buildartifacts")
    assert "discogs: skipped — no Discogs token" in proc.stdout, proc.stdout
    assert "ERROR: Discogs token required" not in proc.stdout + proc.stderr


def test_no_token_named_stage_is_the_three_line_message(env: BeetsEnv) -> None:
    dry = beet(env, "buildartifacts", "--stages", "discogs", "-p").stdout
    assert "would fail: no Discogs token" in dry, dry
    proc = beet(env, "buildartifacts", "--stages", "discogs", code=1)
    assert proc.stderr.splitlines()[:3] == TOKEN_LINES
    proc = beet(env, "discogsgenres", code=1)
    assert proc.stderr.splitlines() == TOKEN_LINES


# -- the first commands a user runs -----------------------------------------------------------


def test_help_shows_the_query_and_the_defaults(tmp_path: Path) -> None:
    env = BeetsEnv(tmp_path / "beets", plugins=list(ALL_PLUGINS))
    for name in ("discogsgenres", "sonicanalysis", "buildartifacts", "dsreport"):
        out = beet(env, name, "--help").stdout
        usage = next(line for line in out.splitlines() if line.startswith("Usage:"))
        assert usage.endswith(f"{name} [options] [QUERY]"), usage
    help_text = " ".join(beet(env, "dsplaylist", "--help").stdout.split())
    assert "default: dsplaylist.count, 30" in help_text
    assert "default: dsplaylist.mode, dynamic" in help_text

"""Stopping `beet sonicanalysis -j 2` mid-run: kill -9, SIGTERM and Ctrl-C (SIGINT).

Through the real `beet` CLI on a generated library: the stored rows survive, SIGINT/SIGTERM end
with one "interrupted; N tracks kept" line and status 130/143 (no traceback), and no process
the run started (its worker) outlives it by more than a few seconds.
"""

from __future__ import annotations

import re
import signal
import sqlite3
import time
from pathlib import Path

import psutil
import pytest

from devtools.beets_env import BeetsEnv
from devtools.demo_library import AlbumSpec, TrackSpec, write_library

pytestmark = pytest.mark.slow
N_TRACKS = 40  # ~1 h of audio: the pool is busy for a while after it starts
LEFTOVER_DEADLINE_S = 5.0


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> BeetsEnv:
    root = tmp_path_factory.mktemp("interrupt")
    env = BeetsEnv(root / "beets", plugins=["sonicanalysis"])
    tracks = [TrackSpec(f"T{i:02d}", 90 + 2 * i, 48 + i % 12, 90.0, 0.6) for i in range(N_TRACKS)]
    write_library(root / "in", [AlbumSpec("Long Band", "Many Tracks", 2020, "flac", tracks)])
    env.run("import", str(root / "in"))
    return env


def stored_rows(env: BeetsEnv) -> dict[int, bytes]:
    """item id -> the stored full vector's bytes (read-only, beside the running writer)."""
    if not env.sidecar_path.exists():
        return {}
    conn = sqlite3.connect(f"file:{env.sidecar_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT s.item_id, f.vec_full FROM sonic_files s"
            " JOIN sonic_features f USING (audio_key)"
        ).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return {}
    finally:
        conn.close()
    return {int(item_id): bytes(full) for item_id, full in rows}


def leftovers(env: BeetsEnv) -> list[int]:
    """Processes of the run still alive a few seconds after it ended (none expected)."""
    stop = time.monotonic() + LEFTOVER_DEADLINE_S
    while (left := env.processes()) and time.monotonic() < stop:
        time.sleep(0.2)
    return left


@pytest.mark.parametrize(
    ("sig", "status"),
    [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 143), (signal.SIGINT, 130)],
)
def test_stopped_run_keeps_rows_and_leaves_no_process(
    env: BeetsEnv, sig: signal.Signals, status: int
) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{env.sidecar_path}{suffix}").unlink(missing_ok=True)
    # A child inherits an ignored SIGINT (pytest started from a background shell job has one)
    # but not a handler: with one in place here, beet starts with Python's own.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = env.popen("sonicanalysis", "-j", "2")
    finally:
        signal.signal(signal.SIGINT, previous)
    parent = psutil.Process(proc.pid)

    def pool_running() -> bool:  # the worker (-j 2: this process and one worker)
        return len(parent.children(recursive=True)) >= 1

    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if len(stored_rows(env)) >= 2 and pool_running():
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    before = stored_rows(env)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)

    assert proc.returncode == status, out
    assert "Traceback" not in out
    assert not leftovers(env)

    after = stored_rows(env)
    assert {k: after.get(k) for k in before} == before  # nothing stored before was lost
    with sqlite3.connect(env.sidecar_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    if sig != signal.SIGKILL:
        kept = re.search(r"interrupted; (\d+) tracks kept", out)
        assert kept, out
        assert len(before) <= int(kept.group(1)) == len(after) < N_TRACKS


def test_a_worker_killed_mid_run_costs_at_most_its_track(env: BeetsEnv) -> None:
    """A worker that dies (the OOM killer, a crash in a decoder library) fails the one track
    it held, recorded as such; this process analyses the rest and the run ends normally."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{env.sidecar_path}{suffix}").unlink(missing_ok=True)
    proc = env.popen("sonicanalysis", "-j", "2")
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if len(stored_rows(env)) >= 2 and parent.children():
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before its worker could be killed"
    (worker,) = parent.children()
    worker.kill()
    out, _ = proc.communicate(timeout=600)

    assert proc.returncode == 0, out
    assert "Traceback" not in out
    assert not leftovers(env)
    with sqlite3.connect(env.sidecar_path) as conn:
        failed = conn.execute("SELECT reason, message FROM sonic_failures").fetchall()
    conn.close()
    # Killed between two jobs (a few microseconds of its time) it held none.
    assert len(failed) <= 1
    for reason, message in failed:
        assert reason == "internal" and "worker failed" in message, message
    assert len(stored_rows(env)) == N_TRACKS - len(failed)
    assert f"{N_TRACKS - len(failed)} analysed, {len(failed)} failed" in out

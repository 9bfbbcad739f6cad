"""`beet buildartifacts` on a real 100k-track beets library: time per stage and peak RSS.

Targets (100k tracks, 1,000 genres): genre-sim + artifacts < 60 s, peak RSS < 2 GB.

    .venv/bin/python benchmarks/buildartifacts_100k.py [--tracks 100000] [--genres 1000]
        [--dir DIR] [--profile FILE]

Writes a beets ``library.db`` (items in albums of 10, genres from a G-genre vocabulary, paths to
files that don't exist: these stages read no audio) and the sidecar (Discogs genre rows for 70 %
of the albums, 137-d vectors for every track), then runs
``beet -c CONFIG buildartifacts --stages genre-sim,artifacts,verify`` twice in a subprocess:
a cold build, then the "up-to-date" re-run. Prints each run's wall time, the per-stage times
from ``analyze_run_report.json`` and the subprocess's peak RSS (``wait4`` rusage).

With ``--dir`` an existing library of the same size is reused (its artifacts are removed first);
``--profile FILE`` runs the cold build under cProfile and writes the stats to FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beets.library import Album, Item, Library

from beetsplug._dspipeline.artifacts import TrackRecord
from beetsplug._dspipeline.keys import album_key
from beetsplug._dspipeline.sidecar import (
    DISCOGS_GENRE_SOURCE,
    DISCOGS_STYLE_SOURCE,
    FileIdentity,
    Sidecar,
    StoredFeatures,
)
from devtools.beets_env import BeetsEnv
from devtools.synthetic_library import SyntheticLibrary, synthetic_library

TIME_TARGET_S = 60.0
RSS_TARGET_MIB = 2048.0
TRACKS_PER_ALBUM = 10
STAGES = "genre-sim,artifacts,verify"


def _insert_rows(lib: Library, model: type[Item] | type[Album], rows: list[dict[str, Any]]) -> None:
    """Insert rows as ``model.add`` would store them, in one transaction.

    ``Model.add`` costs ~2 ms per item (it touches every field twice), 3+ minutes for 100k, so
    one model is stored through beets to get a full row of its defaults, and the rest are that
    row with their own fields, each value serialised by the field's own beets type.
    """
    template = model(lib, **rows[0])
    template.add(lib)
    first_id = int(template.id or 0)
    table = model._table
    with lib.transaction() as tx:
        columns = [str(r[1]) for r in tx.query(f"PRAGMA table_info({table})")]
        (stored,) = tx.query(f"SELECT * FROM {table} WHERE id = ?", (first_id,))
        defaults = dict(zip(columns, stored, strict=True))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        for offset, fields in enumerate(rows[1:], start=1):
            values = dict(defaults, id=first_id + offset)
            values.update({k: model._fields[k].to_sql(v) for k, v in fields.items()})
            tx.mutate(sql, [values[c] for c in columns])


def write_library(env: BeetsEnv, synth: SyntheticLibrary) -> list[tuple[str, str, list[str]]]:
    """Albums and items in ``env``'s library; returns (albumartist, album, genres) per album.

    Item genres are the track's level-1.0/0.5 genres (every fifth item as one joined string, so
    the normaliser splits some); album genres are its tracks' level-0.8 genres, at most three.
    """
    lib = Library(str(env.library_path), str(env.music_dir))
    n_albums = -(-len(synth.tracks) // TRACKS_PER_ALBUM)
    albums: list[tuple[str, str, list[str]]] = []
    album_rows, item_rows = [], []
    now = time.time()
    for a in range(n_albums):
        tracks = synth.tracks[a * TRACKS_PER_ALBUM : (a + 1) * TRACKS_PER_ALBUM]
        artist = tracks[0].artist.split(" feat. ")[0]
        title = f"Album {a}"
        album_level = [g for t in tracks for g, w in t.genre_weights.items() if w == 0.8]
        genres = [g.title() for g in dict.fromkeys(album_level)][:3]
        albums.append((artist, title, [g for t in tracks for g in t.genre_weights]))
        album_rows.append({"albumartist": artist, "album": title, "genres": genres, "year": 2000})
        for n, track in enumerate(tracks):
            raw = [g.title() for g, w in track.genre_weights.items() if w != 0.8]
            item_rows.append(
                {
                    "title": track.title,
                    "artist": track.artist,
                    "albumartist": artist,
                    "album": title,
                    "track": n + 1,
                    "disc": 1,
                    "year": 2000,
                    "genres": [", ".join(raw)] if raw and track.item_id % 5 == 0 else raw,
                    "path": os.fsencode(env.music_dir / artist / title / f"{n + 1:02d}.flac"),
                    "album_id": a + 1,
                    "format": "FLAC",
                    "length": 240.0,
                    "bpm": int(track.bpm) % 200,
                    "added": now,
                }
            )
    _insert_rows(lib, Album, album_rows)
    _insert_rows(lib, Item, item_rows)
    lib._close()
    return albums


def write_sidecar(
    env: BeetsEnv, synth: SyntheticLibrary, albums: list[tuple[str, str, list[str]]]
) -> None:
    """Discogs genres (2) and styles (2) for 70 % of the albums; vectors for every track."""
    with Sidecar(env.sidecar_path) as sidecar:
        with sidecar.transaction() as conn:
            for a, (artist, title, genres) in enumerate(albums):
                if a % 10 >= 7:
                    continue
                common = [g for g, _ in Counter(genres).most_common(4)]
                key = album_key(artist, title)
                conn.executemany(
                    "INSERT INTO album_genres(album_id, genre, source) VALUES (?, ?, ?)",
                    [(key, g.title(), DISCOGS_GENRE_SOURCE) for g in common[:2]]
                    + [(key, g.title(), DISCOGS_STYLE_SOURCE) for g in common[2:]],
                )
        sidecar.store_features_many(
            (track.item_id, FileIdentity(f"/music/{track.item_id}.flac".encode(), 1, 0.0), feats)
            for track in synth.tracks
            if (feats := stored_features(track)) is not None
        )


def stored_features(track: TrackRecord) -> StoredFeatures | None:
    """The track's vectors as the sonic stage would have stored them."""
    if track.full is None or track.start is None or track.mid is None or track.end is None:
        return None
    return StoredFeatures(
        audio_key=f"{track.item_id:040x}",
        extractor="beat3tower",
        extractor_version="bench",
        full=track.full,
        start=track.start,
        mid=track.mid,
        end=track.end,
        duration=240.0,
        sample_rate=22050,
        n_beats=400,
        beat_fallback=False,
        bpm=track.bpm,
        tempo_stability=0.9,
        half_tempo_likely=False,
        double_tempo_likely=False,
        analysed_at=0.0,
    )


def generate(root: Path, n_tracks: int, n_genres: int) -> BeetsEnv:
    """A beets installation in ``root`` with the synthetic library; reused when it matches."""
    env = BeetsEnv(root, plugins=["buildartifacts"])
    marker = root / "benchmark-library.json"
    wanted = {"tracks": n_tracks, "genres": n_genres}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        print(f"reusing the library in {root}")
        return env
    for path in (env.library_path, env.sidecar_path):
        path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    synth = synthetic_library(n_tracks, n_genres, seed=1, without_genres=0.02)
    t1 = time.perf_counter()
    albums = write_library(env, synth)
    t2 = time.perf_counter()
    write_sidecar(env, synth, albums)
    t3 = time.perf_counter()
    marker.write_text(json.dumps(wanted))
    print(f"generated {n_tracks} tracks / {len(albums)} albums / {n_genres} genres: "
          f"records {t1 - t0:.1f} s, library.db {t2 - t1:.1f} s, "
          f"sidecar {t3 - t2:.1f} s")  # fmt: skip
    return env


def run_beet(env: BeetsEnv, args: list[str], profile: Path | None) -> tuple[float, float, str]:
    """Run ``beet ARGS``; (wall s, peak RSS MiB, output) of that one subprocess."""
    cmd = env.command(*args)
    if profile is not None:
        cmd[1:3] = ["-m", "cProfile", "-o", str(profile), "-m", "beets"]
    with tempfile.TemporaryFile("w+") as output:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=output, stderr=subprocess.STDOUT, env=env.process_env(),
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        # wait4: this child's own rusage (RUSAGE_CHILDREN would be the max over all children).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read()
    if proc.returncode != 0:
        raise SystemExit(f"beet {' '.join(args)} exited {proc.returncode}:\n{text}")
    return wall, usage.ru_maxrss / 1024, text


def report(env: BeetsEnv, label: str, wall: float, rss: float) -> None:
    run = json.loads((env.out_dir / "analyze_run_report.json").read_text())
    stages = {s["name"]: s for s in run["stages"]}
    print(f"\n{label}: beet buildartifacts --stages {STAGES}")
    for name, stage in stages.items():
        print(f"  {name:10s} {stage['duration_s']:7.2f} s  {stage['result']}")
    pipeline = sum(stages[s]["duration_s"] for s in ("genre-sim", "artifacts"))
    print(f"  genre-sim + artifacts: {pipeline:6.2f} s "
          f"= {pipeline / TIME_TARGET_S:.2f} x the {TIME_TARGET_S:.0f} s target")  # fmt: skip
    print(f"  whole command (beets start-up, library query, report): {wall:6.2f} s")
    print(f"  peak RSS of the beet process: {rss:7.0f} MiB "
          f"= {rss / RSS_TARGET_MIB:.2f} x the 2 GiB target")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--genres", type=int, default=1_000)
    parser.add_argument("--dir", type=Path, default=None, help="keep the library here")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the cold build")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dsp-beet-bench-") as tmp:
        env = generate(args.dir or Path(tmp), args.tracks, args.genres)
        shutil.rmtree(env.out_dir, ignore_errors=True)
        build = ["buildartifacts", "--stages", STAGES]
        wall, rss, _ = run_beet(env, build, args.profile)
        report(env, "cold build", wall, rss)
        sizes = {p.name: p.stat().st_size / 2**20 for p in env.out_dir.glob("*.npz")}
        print("  " + ", ".join(f"{k}: {v:.0f} MiB" for k, v in sorted(sizes.items())))
        wall, rss, _ = run_beet(env, build, None)
        report(env, "re-run (nothing changed)", wall, rss)


if __name__ == "__main__":
    main()

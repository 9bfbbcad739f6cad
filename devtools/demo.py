"""The offline demo: a generated beets library, a local Discogs stand-in, the whole pipeline.

Run with ``./scripts/demo`` (or ``python -m devtools.demo [--keep DIR]``).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from beetsplug._dspipeline.artifact_format import DATA_FILE, GENRE_SIM_FILE
from beetsplug._dspipeline.sidecar import Sidecar
from devtools.beets_env import ALL_PLUGINS, BeetsEnv
from devtools.demo_library import demo_albums, write_library
from devtools.discogs_catalogs import demo_catalog
from devtools.discogs_standin import StandinServer

DEMO_TOKEN = "demo-token-not-a-secret"


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def show(proc_output: str) -> None:
    lines = proc_output.rstrip().splitlines()
    # libmpg123 complains on stderr about frames of the MP3s libsndfile wrote; harmless here.
    noise = [line for line in lines if line.startswith("[src/libmpg123")]
    for line in lines:
        if line not in noise:
            print(f"  {line}")
    if noise:
        print(f"  ({len(noise)} libmpg123 decoder warnings about the generated MP3s left out)")


def run(env: BeetsEnv, *args: str) -> str:
    print(f"$ beet {' '.join(args)}", flush=True)
    proc = env.run(*args)
    show(proc.stdout + proc.stderr)
    return proc.stdout


def print_sidecar_genres(env: BeetsEnv) -> None:
    with sqlite3.connect(env.sidecar_path) as conn:
        rows = conn.execute(
            """SELECT a.albumartist, a.album, g.genre, g.source
               FROM albums a JOIN album_genres g USING (album_id)
               ORDER BY a.albumartist, a.album, g.source, g.genre"""
        ).fetchall()
    albums: dict[tuple[str, str], dict[str, list[str]]] = {}
    for artist, album, genre, source in rows:
        albums.setdefault((artist, album), {}).setdefault(source, []).append(genre)
    for (artist, album), sources in albums.items():
        print(f"  {artist} – {album}")
        for source, genres in sources.items():
            print(f"      {source:16s} {', '.join(genres)}")


def print_sonic_summary(env: BeetsEnv) -> None:
    """Per album: tracks, BPM per track, how many used the beat-grid fallback."""
    sidecar = Sidecar(env.sidecar_path)
    feats = sidecar.features_for_items()
    sidecar.close()
    lines = env.run("ls", "-f", "$id\t$albumartist – $album\t$title").stdout.splitlines()
    albums: dict[str, list[str]] = {}
    for line in lines:
        item_id, album, title = line.split("\t")
        f = feats.get(int(item_id))
        if f is None:
            albums.setdefault(album, []).append(f"{title}: not analysed")
            continue
        grid = " (no beat: time grid)" if f.beat_fallback else ""
        hint = " (half tempo likely)" if f.half_tempo_likely else ""
        albums.setdefault(album, []).append(
            f"{title}: {f.bpm:.0f} BPM{grid}{hint}, {f.n_beats} beats, "
            f"timbre centroid {f.full[97]:.0f} Hz"
        )
    for album, tracks in albums.items():
        print(f"  {album}")
        for track in tracks:
            print(f"      {track}")


def print_genre_neighbours(out_dir: Path, genres: list[str]) -> None:
    with np.load(out_dir / GENRE_SIM_FILE, allow_pickle=False) as data:
        vocab = data["genre_vocab"].tolist()
        sim = data["S"]
    for genre in genres:
        if genre not in vocab:
            continue
        row = sim[vocab.index(genre)]
        order = [j for j in np.argsort(-row) if vocab[j] != genre][:4]
        near = ", ".join(f"{vocab[j]} {row[j]:.2f}" for j in order)
        print(f"  {genre:12s} → {near}")


def print_nearest_tracks(out_dir: Path, title: str, k: int = 5) -> None:
    with np.load(out_dir / DATA_FILE, allow_pickle=False) as data:
        titles = data["track_titles"].tolist()
        artists = data["track_artists"].tolist()
        emb = data["dsp_hybrid_embedding"]
    i = titles.index(title)
    cosine = emb @ emb[i]
    order = [j for j in np.argsort(-cosine) if j != i][:k]
    print(f"  {artists[i]} – {title}:")
    for j in order:
        print(f"      {cosine[j]:+.3f}  {artists[j]} – {titles[j]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="build the demo in DIR and keep it")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each track")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("demo-out"),
        help="where the playlist and the HTML report are copied (default: demo-out)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    root = args.keep or Path(tempfile.mkdtemp(prefix="dspipeline-demo-"))
    try:
        demo(root, args.seconds, args.results)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nDemo finished in {time.monotonic() - started:.0f}s.")


def demo(root: Path, seconds: float, results: Path) -> None:
    banner("1. A small library of generated, tagged audio files")
    source = root / "incoming"
    files = write_library(source, demo_albums(seconds))
    print(f"  wrote {len(files)} files ({seconds:.0f}s each) under {source}")

    with StandinServer(
        demo_catalog(), token=DEMO_TOKEN, rate_limit_per_min=60, latency_s=0.05
    ) as server:
        base_url = server.base_url
        banner(f"2. A local Discogs stand-in on {base_url} (60 requests/min, real headers)")
        env = BeetsEnv(
            root / "beets",
            plugins=ALL_PLUGINS,
            settings={"discogsgenres": {"base_url": base_url}, "dsplaylist": {"similar_k": 5}},
            env={"DISCOGS_TOKEN": DEMO_TOKEN},
        )
        banner("3. beet import: the discogsgenres import stage enriches each album")
        run(env, "import", str(source))
        run(
            env,
            "ls",
            "-a",
            "-f",
            "$albumartist – $album  %ifdef{discogs_styles,[$discogs_styles],(not on Discogs)}",
        )
        banner("4. beet discogsgenres again: nothing left to do")
        run(env, "discogsgenres")
        print(f"  ({server.requests_count} requests sent to the stand-in in all)")
        banner("5. The sidecar's album_genres table")
        print_sidecar_genres(env)
        run(env, "ls", "-a", "discogs_styles:synth-pop")

        banner("6. beet sonicanalysis: 137-d beat3tower features on every core")
        t0 = time.monotonic()
        run(env, "sonicanalysis")
        elapsed = time.monotonic() - t0
        print(
            f"  {len(files)} tracks in {elapsed:.1f}s wall clock including start-up: "
            f"{len(files) / elapsed:.2f} tracks/s, "
            f"{len(files) * seconds / elapsed:.0f}x real time"
        )
        print_sonic_summary(env)

        banner("7. beet buildartifacts: Discogs → sonic → genre-sim → artifacts → verify")
        run(env, "buildartifacts")
        banner("8. What the artifacts know")
        print("  Genre neighbours (Jaccard over tracks):")
        print_genre_neighbours(env.out_dir, ["electronic", "jazz", "synth-pop", "house"])
        print("  Five nearest tracks by the hybrid (sonic + genre) embedding:")
        print_nearest_tracks(env.out_dir, "One More Time")

    banner("9. beet dsplaylist: a playlist from one seed")
    results.mkdir(parents=True, exist_ok=True)
    playlist = results / "one-more-time.m3u"
    seed = ("title:One More Time", "-n", "10", "--max-per-artist", "3")
    run(env, "dsplaylist", *seed, "-p")
    run(env, "dsplaylist", *seed, "-o", str(playlist.resolve()))
    print(playlist.read_text("utf-8").rstrip().replace("\n", "\n  ").join(["  ", ""]))
    print("  Why not other tracks? --explain names what each pick was preferred to:")
    run(env, "dsplaylist", "title:One More Time", "-n", "5", "--strict", "--explain")

    banner("10. A journey: from jazz to French house in small steps")
    run(env, "dsplaylist", "title:So What", "--to", "title:One More Time", "-n", "7")

    banner("11. The similar: query inside beets: the 5 tracks nearest to Kraftwerk's Numbers")
    run(env, "ls", "similar:title:Numbers")
    print("  It composes with any beets query (here: only those before 1990):")
    run(env, "ls", "similar:title:Numbers", "year:..1989")

    banner("12. beet dsreport: one HTML page")
    report = results / "dspipeline_report.html"
    run(env, "dsreport", "-o", str(report.resolve()))
    print(
        f"  open {report.resolve()} in a browser "
        "(the playlist's paths point into the demo's temporary library)"
    )


if __name__ == "__main__":
    main()

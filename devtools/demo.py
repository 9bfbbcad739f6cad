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

from devtools.beets_env import ALL_PLUGINS, BeetsEnv
from devtools.demo_library import demo_albums, write_library
from devtools.discogs_catalogs import demo_catalog
from devtools.discogs_standin import StandinServer

DEMO_TOKEN = "demo-token-not-a-secret"


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def show(proc_output: str) -> None:
    for line in proc_output.rstrip().splitlines():
        print(f"  {line}")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="build the demo in DIR and keep it")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each track")
    args = parser.parse_args()
    started = time.monotonic()
    root = args.keep or Path(tempfile.mkdtemp(prefix="dspipeline-demo-"))
    try:
        demo(root, args.seconds)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nDemo finished in {time.monotonic() - started:.0f}s.")


def demo(root: Path, seconds: float) -> None:
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
            settings={"discogsgenres": {"base_url": base_url}},
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
    banner("6. Querying inside beets")
    run(env, "ls", "-a", "discogs_styles:synth-pop")


if __name__ == "__main__":
    main()

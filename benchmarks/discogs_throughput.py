"""Discogs lookup throughput against the local stand-in at the real rate limit.

Usage: .venv/bin/python benchmarks/discogs_throughput.py [--albums 300] [--rpm 60]
       [--latency 0.1] [--seed 0] [--plain]

Serves `devtools.discogs_catalogs.mixed_catalog` (plain, edition-noise, decoy, classical,
soundtrack, non-ASCII, styles-on-the-master-only and 8 % absent albums; ``--plain``: the
older `throughput_catalog` of plain albums) from the stand-in limited to ``--rpm`` requests per
moving 60 s window with ``--latency`` seconds per answer, and looks every album up with
`lookup_album` on one `DiscogsClient`. Prints albums/min, requests/album (overall and per kind
of album), which step found the hits, the number of 429 answers and the hit/miss/error counts.
Targets: >= 50 albums/min and <= 1.2 requests/album at 60 req/min; no 429 in steady state.
The full run (300 albums) takes about 6 minutes.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug._dspipeline.discogs_http import DiscogsClient
from beetsplug._dspipeline.discogs_match import AlbumQuery, lookup_album
from devtools.discogs_catalogs import mixed_catalog, throughput_catalog
from devtools.discogs_standin import StandinServer

TOKEN = "benchmark-token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--albums", type=int, default=300)
    parser.add_argument("--rpm", type=int, default=60)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plain", action="store_true", help="plain albums only")
    args = parser.parse_args()

    make = throughput_catalog if args.plain else mixed_catalog
    catalog, library = make(args.albums, seed=args.seed)
    server = StandinServer(
        catalog, token=TOKEN, rate_limit_per_min=args.rpm, latency_s=args.latency
    )
    with server:
        client = DiscogsClient(
            server.base_url, TOKEN, "beets-dspipeline-benchmark/0.1", rate_limit_per_min=args.rpm
        )
        statuses: collections.Counter[str] = collections.Counter()
        found_by: collections.Counter[str] = collections.Counter()
        by_case: dict[str, list[int]] = collections.defaultdict(list)
        correct = 0
        started = time.monotonic()
        for album in library:
            query = AlbumQuery(
                album.albumartist, album.album, album.year, albumtypes=album.albumtypes
            )
            result = lookup_album(client, query)
            statuses[result.status] += 1
            found_by[str(result.found_by)] += result.status == "hit"
            by_case[album.case].append(result.requests)
            got = (tuple(result.genres), tuple(result.styles)) if result.status == "hit" else ()
            correct += got == ((album.genres, album.styles) if album.present else ())
        elapsed = time.monotonic() - started
        http_statuses = collections.Counter(server.statuses())

    minutes = elapsed / 60
    print(f"albums: {len(library)}  rpm limit: {args.rpm}  latency: {args.latency:.3f}s")
    print(f"elapsed: {elapsed:.1f}s  albums/min: {len(library) / minutes:.1f}  (target >= 50)")
    print(
        f"requests: {server.requests_count}  requests/album: "
        f"{server.requests_count / len(library):.3f}  (target <= 1.2)"
    )
    print(f"HTTP statuses: {dict(http_statuses)}  limiter waited: {client.limiter.waited_s:.1f}s")
    print(f"lookups: {dict(statuses)}  correct: {correct}/{len(library)}")
    print("hits found by: " + ", ".join(f"{k} {v}" for k, v in found_by.most_common() if v))
    print(
        "requests/album by case: "
        + ", ".join(f"{k} {len(v)}x{sum(v) / len(v):.2f}" for k, v in sorted(by_case.items()))
    )


if __name__ == "__main__":
    main()

"""Match quality on the Discogs test sets: ours vs. first-result vs. reference matcher.

Usage: .venv/bin/python benchmarks/discogs_match_quality.py [--strict-artist] [--threshold 0.55]
       [--mixed N] [--seed S]

Serves `devtools.discogs_catalogs.adversarial_catalog` (same titles by many artists, editions,
"Various" volumes, absent albums next to similar titles, non-ASCII names, styles on masters
only, classical "Composer: Work" albums and soundtracks with decoys), then
`mixed_catalog(N)` (a generated library of plain, edition-noise, decoy, classical,
soundtrack, non-ASCII and absent albums), from the stand-in and looks every library album up
with three strategies:

- ``lookup_album``: this project's matcher;
- ``first-result``: search raw title + artist, take the first result's genres/styles;
- ``reference``: the reference system's matcher, token overlap 0.6 album + 0.3 artist over
  search results, then an artist-less search accepted at 0.9 x threshold.

Precision and recall are over (album, genre-or-style) pairs. Also prints requests/album and,
for ``lookup_album``, which step found the hits and what the misses cost (where fallbacks pay).
Targets for ``lookup_album``: precision >= 0.98, recall >= 0.95, <= 1.2 requests/album on the
mixed library.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug._dspipeline.discogs_http import DiscogsClient
from beetsplug._dspipeline.discogs_match import (
    AlbumQuery,
    LookupResult,
    clean_title,
    lookup_album,
    split_result_title,
)
from devtools.discogs_catalogs import LibraryAlbum, adversarial_catalog, mixed_catalog
from devtools.discogs_standin import Catalog, StandinServer

TOKEN = "quality-benchmark-token"
Tags = tuple[str, ...]


def _tags(result: dict[str, Any]) -> Tags:
    return tuple(t.lower() for t in [*result.get("genre", []), *result.get("style", [])])


def first_result(client: DiscogsClient, album: LibraryAlbum) -> Tags:
    results = client.search_releases(album.album, album.albumartist, None)
    return _tags(results[0]) if results else ()


def _tokens(text: str) -> set[str]:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return set(re.findall(r"[a-z0-9]+", plain))


def _overlap(a: str, b: str) -> float:
    ta, tb = _tokens(a), _tokens(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 0.0


def reference(client: DiscogsClient, album: LibraryAlbum, threshold: float) -> Tags:
    title = clean_title(album.album)

    def best(results: list[dict[str, Any]]) -> tuple[float, Tags]:
        scored: list[tuple[float, Tags]] = [(0.0, ())]
        for result in results:
            artist, result_title = split_result_title(result["title"])
            score = 0.6 * _overlap(title, result_title) + 0.3 * _overlap(album.albumartist, artist)
            scored.append((score, _tags(result)))
        return max(scored, key=lambda s: s[0])

    score, tags = best(client.search_releases(title, album.albumartist, None))
    if score >= threshold:
        return tags
    score, tags = best(client.search_releases(title, None, None))
    return tags if score >= 0.9 * threshold else ()


def ours(
    client: DiscogsClient,
    album: LibraryAlbum,
    threshold: float,
    strict: bool,
    results: list[tuple[LibraryAlbum, LookupResult]],
) -> Tags:
    query = AlbumQuery(album.albumartist, album.album, album.year, albumtypes=album.albumtypes)
    result = lookup_album(client, query, threshold=threshold, strict_artist=strict)
    if result.status == "error":
        raise RuntimeError(result.error)
    results.append((album, result))
    return (*result.genres, *result.styles)


def evaluate(
    name: str, strategy: Callable[[DiscogsClient, LibraryAlbum], Tags], server: StandinServer,
    library: list[LibraryAlbum],
) -> None:  # fmt: skip
    client = DiscogsClient(server.base_url, TOKEN, "dspipeline-quality/0.1",
                           rate_limit_per_min=1_000_000)  # fmt: skip
    true_pairs = predicted_pairs = correct_pairs = 0
    wrong_albums = []
    for index, album in enumerate(library):
        truth = {(index, t) for t in album.genres + album.styles}
        predicted = {(index, t) for t in strategy(client, album)}
        true_pairs += len(truth)
        predicted_pairs += len(predicted)
        correct_pairs += len(truth & predicted)
        if truth != predicted:
            wrong_albums.append(album)
    precision = correct_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = correct_pairs / true_pairs if true_pairs else 1.0
    cases: dict[str, int] = {}
    for album in wrong_albums:
        cases[album.case] = cases.get(album.case, 0) + 1
    print(
        f"{name:<13} precision {precision:.3f}  recall {recall:.3f}  "
        f"requests/album {client.requests_made / len(library):.2f}  "
        f"wrong albums {len(wrong_albums)} {cases or ''}"
    )


def where_requests_go(results: list[tuple[LibraryAlbum, LookupResult]]) -> None:
    """Which step found the hits, and what each kind of album and each outcome cost."""
    found: collections.Counter[str] = collections.Counter()
    by_outcome: dict[str, list[int]] = collections.defaultdict(list)
    by_case: dict[str, list[int]] = collections.defaultdict(list)
    for album, result in results:
        if result.status == "hit":
            found[str(result.found_by)] += 1
        by_outcome[result.status].append(result.requests)
        by_case[album.case].append(result.requests)
    print("  hits found by: " + ", ".join(f"{k} {v}" for k, v in found.most_common()))
    for label, groups in (("outcome", by_outcome), ("case", by_case)):
        print(
            f"  requests by {label}: "
            + ", ".join(f"{k} {len(v)}x{sum(v) / len(v):.2f}" for k, v in sorted(groups.items()))
        )


def run_set(
    title: str, catalog: Catalog, library: list[LibraryAlbum], args: argparse.Namespace,
    *, baselines: bool,
) -> None:  # fmt: skip
    present = sum(a.present for a in library)
    print(
        f"{title}: {len(library)} albums ({present} on Discogs, {len(library) - present} absent), "
        f"catalog: {len(catalog.releases)} releases, {len(catalog.masters)} masters"
    )
    results: list[tuple[LibraryAlbum, LookupResult]] = []
    with StandinServer(catalog, token=TOKEN, rate_limit_per_min=1_000_000) as server:
        evaluate(
            "lookup_album",
            lambda c, a: ours(c, a, args.threshold, args.strict_artist, results),
            server,
            library,
        )
        where_requests_go(results)
        if baselines:
            evaluate("first-result", first_result, server, library)
            evaluate("reference", lambda c, a: reference(c, a, args.threshold), server, library)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=0.55)
    parser.add_argument("--strict-artist", action="store_true")
    parser.add_argument("--mixed", type=int, default=500, metavar="N",
                        help="albums in the mixed library (0: skip it)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run_set("adversarial", *adversarial_catalog(), args, baselines=True)
    if args.mixed:
        print()
        run_set("mixed", *mixed_catalog(args.mixed, seed=args.seed), args, baselines=True)


if __name__ == "__main__":
    main()

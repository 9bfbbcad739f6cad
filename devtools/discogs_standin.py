"""A local stand-in for the Discogs API, for tests, benchmarks and the demo.

Serves ``/database/search``, ``/releases/{id}`` and ``/masters/{id}`` from a `Catalog` of
plain JSON dicts shaped like the real API, checks the ``Authorization: Discogs token=...``
header, enforces a moving-window rate limit with the real ``X-Discogs-Ratelimit*`` headers
(429 when over), adds configurable latency, and injects faults on demand (429 bursts, 5xx,
slow answers, malformed or truncated JSON, connection resets, an error that quotes the request).

Run by hand::

    python -m devtools.discogs_standin --port 8765 --rpm 60 [--catalog FILE] [--latency 0.1]

Without ``--catalog`` it serves `devtools.discogs_catalogs.demo_catalog()`.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
import unicodedata
import urllib.parse
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

__all__ = ["Catalog", "Fault", "FaultPlan", "RequestRecord", "StandinServer", "search_tokens"]

# Words Discogs' full-text search effectively ignores when filtering.
_STOPWORDS = frozenset({"the", "a", "an", "and", "of", "le", "la", "les", "die", "der"})
_ARTIST_NUMBER = re.compile(r"\s*\(\d+\)$")
_FOLD = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "Ae", "œ": "oe", "ß": "ss", "ł": "l"})


def search_tokens(text: str) -> list[str]:
    """Case- and accent-insensitive word tokens of ``text`` (CJK runs stay whole)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return re.findall(r"\w+", plain.replace("'", ""))


def _content_tokens(text: str) -> list[str]:
    tokens = search_tokens(text)
    return [t for t in tokens if t not in _STOPWORDS] or tokens


# -- catalog ------------------------------------------------------------------------------------


def _artist_entries(artist: str | Sequence[str], anv: str | None, join: str = "&") -> list[JSON]:
    names = [artist] if isinstance(artist, str) else list(artist)
    entries = []
    for i, name in enumerate(names):
        entries.append(
            {
                "name": name,
                "anv": anv if (i == 0 and anv) else "",
                "join": join if i < len(names) - 1 else "",
                "role": "",
                "tracks": "",
                "id": _stable_id(name),
                "resource_url": f"/artists/{_stable_id(name)}",
            }
        )
    return entries


def _stable_id(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:7], 16)


def display_artist(artists: Sequence[JSON]) -> str:
    """How a search result's ``title`` shows the artists: ANVs carry a ``*``."""
    parts = []
    for entry in artists:
        shown = f"{entry['anv']}*" if entry.get("anv") else entry["name"]
        join = entry.get("join") or ""
        parts.append(shown + (", " if join == "," else f" {join} " if join else ""))
    return "".join(parts).strip()


class Catalog:
    """Releases and masters as plain JSON-like dicts, keyed by integer id."""

    def __init__(
        self, releases: dict[int, JSON] | None = None, masters: dict[int, JSON] | None = None
    ) -> None:
        self.releases: dict[int, JSON] = dict(releases or {})
        self.masters: dict[int, JSON] = dict(masters or {})

    def _next_id(self, existing: Iterable[int], start: int) -> int:
        return max([start - 1, *existing]) + 1

    def add_master(
        self,
        artist: str | Sequence[str],
        title: str,
        year: int,
        genres: Sequence[str],
        styles: Sequence[str],
        *,
        anv: str | None = None,
        join: str = "&",
        master_id: int | None = None,
    ) -> int:
        """Add a master release (its ``main_release`` is set by the first release added)."""
        mid = master_id if master_id is not None else self._next_id(self.masters, 100)
        self.masters[mid] = {
            "id": mid,
            "title": title,
            "artists": _artist_entries(artist, anv, join),
            "year": year,
            "genres": list(genres),
            "styles": list(styles),
            "main_release": None,
            "main_release_url": None,
            "resource_url": f"/masters/{mid}",
            "uri": f"/master/{mid}",
            "versions_url": f"/masters/{mid}/versions",
            "data_quality": "Correct",
            "tracklist": [],
        }
        return mid

    def add_release(
        self,
        artist: str | Sequence[str],
        title: str,
        year: int,
        genres: Sequence[str],
        styles: Sequence[str],
        *,
        anv: str | None = None,
        join: str = "&",
        master_id: int | None = None,
        country: str = "US",
        formats: Sequence[str] = ("CD", "Album"),
        label: str = "Not On Label",
        release_id: int | None = None,
        have: int | None = None,
    ) -> int:
        """Add a release; ``master_id`` links it to a master added before."""
        rid = release_id if release_id is not None else self._next_id(self.releases, 1000)
        if master_id is not None:
            master = self.masters[master_id]
            if master["main_release"] is None:
                master["main_release"] = rid
                master["main_release_url"] = f"/releases/{rid}"
        self.releases[rid] = {
            "id": rid,
            "title": title,
            "artists": _artist_entries(artist, anv, join),
            "year": year,
            "released": str(year) if year else "",
            "genres": list(genres),
            "styles": list(styles),
            "master_id": master_id or 0,
            "master_url": f"/masters/{master_id}" if master_id else None,
            "country": country,
            "formats": [{"name": formats[0], "qty": "1", "descriptions": list(formats[1:])}],
            "labels": [{"name": label, "catno": f"CAT-{rid}", "id": _stable_id(label)}],
            "community": {
                "have": have if have is not None else _stable_id(f"have{rid}") % 5000,
                "want": _stable_id(f"want{rid}") % 2000,
            },
            "resource_url": f"/releases/{rid}",
            "uri": f"/release/{rid}",
            "status": "Accepted",
            "data_quality": "Needs Vote",
            "tracklist": [],
        }
        return rid

    def add_album(
        self,
        artist: str | Sequence[str],
        title: str,
        year: int,
        genres: Sequence[str],
        styles: Sequence[str],
        *,
        anv: str | None = None,
        join: str = "&",
        reissue_years: Sequence[int] = (),
        release_styles: Sequence[str] | None = None,
        master: bool = True,
    ) -> tuple[int | None, list[int]]:
        """A master plus its original release and one release per reissue year.

        ``join`` links several artists (``","`` for classical "Composer, Performer" credits).
        ``release_styles`` overrides the styles on the releases (e.g. ``[]`` for albums whose
        styles exist only on the master). Returns ``(master_id, release_ids)``.
        """
        mid = (
            self.add_master(artist, title, year, genres, styles, anv=anv, join=join)
            if master
            else None
        )
        on_release = list(styles if release_styles is None else release_styles)
        ids = [
            self.add_release(
                artist, title, y, genres, on_release, anv=anv, join=join, master_id=mid
            )
            for y in (year, *reissue_years)
        ]
        return mid, ids

    def to_json(self) -> JSON:
        return {
            "releases": {str(k): v for k, v in self.releases.items()},
            "masters": {str(k): v for k, v in self.masters.items()},
        }

    @classmethod
    def from_json(cls, data: JSON) -> Catalog:
        return cls(
            {int(k): v for k, v in data.get("releases", {}).items()},
            {int(k): v for k, v in data.get("masters", {}).items()},
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False, indent=1), "utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Catalog:
        try:
            data = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: cannot load catalog: {exc}") from None
        if not isinstance(data, dict) or "releases" not in data:
            raise ValueError(f"{path}: not a catalog (no 'releases' object)")
        return cls.from_json(data)


# -- search -------------------------------------------------------------------------------------


def _artist_tokens(entry: JSON) -> set[str]:
    tokens: set[str] = set()
    for artist in entry["artists"]:
        tokens.update(search_tokens(_ARTIST_NUMBER.sub("", artist["name"])))
        tokens.update(search_tokens(artist.get("anv") or ""))
    return tokens


def _match_fraction(query: list[str], tokens: set[str]) -> float:
    return sum(t in tokens for t in query) / len(query) if query else 1.0


def search(catalog: Catalog, params: dict[str, str], base_url: str) -> JSON:
    """Answer ``/database/search`` like Discogs: lenient token matching, ranked results."""
    kind = params.get("type", "")
    pools: list[tuple[str, dict[int, JSON]]] = []
    if kind in ("", "release"):
        pools.append(("release", catalog.releases))
    if kind in ("", "master"):
        pools.append(("master", catalog.masters))
    title_q = _content_tokens(params.get("release_title", ""))
    artist_q = _content_tokens(params.get("artist", ""))
    free_q = _content_tokens(" ".join(params.get(k, "") for k in ("q", "title")))
    year_q = params.get("year", "").strip()

    ranked: list[tuple[float, int, int, str, JSON]] = []
    for result_type, pool in pools:
        for entry in pool.values():
            if year_q and str(entry.get("year", "")) != year_q:
                continue
            artist_tokens = _artist_tokens(entry)
            if artist_q and not all(t in artist_tokens for t in artist_q):
                continue
            title_tokens = set(search_tokens(entry["title"]))
            relevance = 1.0
            if title_q:
                relevance = _match_fraction(title_q, title_tokens)
                # Lenient like Discogs: half of the title words are enough to be listed.
                if relevance < 0.5:
                    continue
            if free_q:
                everything = title_tokens | artist_tokens
                for label in entry.get("labels", []):
                    everything.update(search_tokens(label["name"]))
                free = _match_fraction(free_q, everything)
                if free < 0.5:
                    continue
                relevance *= free
            extra = len(title_tokens - set(title_q))
            have = entry.get("community", {}).get("have", 0)
            ranked.append((-relevance, extra, -have, result_type, entry))
    ranked.sort(key=lambda r: (*r[:3], r[4]["id"]))

    per_page = min(max(_int(params.get("per_page"), 50), 1), 100)
    pages = max(1, math.ceil(len(ranked) / per_page))
    page = min(max(_int(params.get("page"), 1), 1), pages)
    chosen = ranked[(page - 1) * per_page : page * per_page]
    return {
        "pagination": {
            "page": page,
            "pages": pages,
            "per_page": per_page,
            "items": len(ranked),
            "urls": {},
        },
        "results": [_search_result(t, e, base_url) for *_, t, e in chosen],
    }


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _url(base_url: str, path: str | None) -> str | None:
    """Our catalog's paths become URLs on this server; real API objects carry full URLs."""
    if not path:
        return None
    return path if "://" in path else base_url + path


def _search_result(result_type: str, entry: JSON, base_url: str) -> JSON:
    rid = entry["id"]
    year = entry.get("year") or ""
    kind = "release" if result_type == "release" else "master"
    result: JSON = {
        "id": rid,
        "type": result_type,
        "title": f"{display_artist(entry['artists'])} - {entry['title']}",
        "year": str(year) if year else "",
        "genre": list(entry.get("genres", [])),
        "style": list(entry.get("styles", [])),
        "uri": str(entry.get("uri") or f"/{kind}/{rid}"),
        "resource_url": _url(base_url, entry.get("resource_url") or f"/{kind}s/{rid}"),
        "thumb": "",
        "cover_image": f"{base_url}/images/{result_type}-{rid}.jpg",
        "community": dict(entry.get("community", {"have": 0, "want": 0})),
        "barcode": [],
    }
    if result_type == "release":
        formats = entry.get("formats") or [{"name": "CD"}]
        labels = entry.get("labels") or []
        result.update(
            {
                "master_id": entry.get("master_id") or 0,
                "master_url": _url(base_url, entry.get("master_url")),
                "format": [formats[0].get("name", ""), *formats[0].get("descriptions", [])],
                "formats": formats,
                "label": [label["name"] for label in labels],
                "catno": labels[0].get("catno", "none") if labels else "none",
                "country": entry.get("country", ""),
            }
        )
    else:
        result.update({"master_id": rid, "master_url": result["resource_url"]})
    return result


def _absolute(entry: JSON, base_url: str) -> JSON:
    out = dict(entry)
    for key in ("resource_url", "master_url", "main_release_url", "versions_url"):
        if out.get(key):
            out[key] = _url(base_url, out[key])
    return out


# -- faults and request log ---------------------------------------------------------------------

FAULT_KINDS = (
    "429", "500", "502", "503", "504", "slow", "malformed", "truncated", "reset", "echo"
)  # fmt: skip


@dataclasses.dataclass
class Fault:
    """One injected fault; ``times=None`` repeats forever; ``path`` is a regex on the path,
    ``query`` one on the URL-encoded query string (e.g. ``release_title=Homogenic``)."""

    kind: str
    times: int | None = 1
    path: str | None = None
    retry_after: int | None = 1
    delay_s: float = 2.0
    query: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")


class FaultPlan:
    """Thread-safe queue of faults, consumed by matching requests in order."""

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._lock = threading.Lock()
        self._faults = list(faults)

    def inject(
        self,
        kind: str,
        times: int | None = 1,
        *,
        path: str | None = None,
        retry_after: int | None = 1,
        delay_s: float = 2.0,
        query: str | None = None,
    ) -> None:
        with self._lock:
            self._faults.append(Fault(kind, times, path, retry_after, delay_s, query))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return [dataclasses.replace(f) for f in self._faults]

    def take(self, path: str, query: str = "") -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.path is None or re.search(fault.path, path)) and (
                    fault.query is None or re.search(fault.query, query)
                ):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it; ``status`` 0 means the connection was reset."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    at: float


# -- server -------------------------------------------------------------------------------------


class StandinServer:
    """Threaded Discogs stand-in on 127.0.0.1; ``port=0`` picks a free port.

    Use as a context manager or call `start` (returns the base URL) and `stop`.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        token: str,
        rate_limit_per_min: int = 60,
        latency_s: float = 0.0,
        window_s: float = 60.0,
        port: int = 0,
        faults: Iterable[Fault] = (),
    ) -> None:
        self.catalog = catalog
        self.token = token
        self.rate_limit_per_min = rate_limit_per_min
        self.latency_s = latency_s
        self.window_s = window_s
        self.port = port
        self.faults = FaultPlan(faults)
        self.base_url = ""
        self._lock = threading.Lock()
        self._window: collections.deque[float] = collections.deque()
        self._log: list[RequestRecord] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> str:
        handler = type("Handler", (_Handler,), {"standin": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="discogs-standin"
        )
        self._thread.daemon = True
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> StandinServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # request log
    @property
    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    @property
    def requests_count(self) -> int:
        with self._lock:
            return len(self._log)

    def statuses(self) -> list[int]:
        return [r.status for r in self.request_log]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)

    def _admit(self, now: float) -> tuple[bool, int, float]:
        """Count a request in the moving window: (allowed, used, seconds until a slot)."""
        with self._lock:
            while self._window and self._window[0] <= now - self.window_s:
                self._window.popleft()
            if len(self._window) >= self.rate_limit_per_min:
                return False, len(self._window), self._window[0] + self.window_s - now
            self._window.append(now)
            return True, len(self._window), 0.0


class _Handler(BaseHTTPRequestHandler):
    standin: StandinServer
    _request: tuple[str, dict[str, str], float]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes
    server_version = "DiscogsStandin/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log replaces stderr chatter

    def do_GET(self) -> None:
        arrived = time.monotonic()
        server = self.standin
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        self._request = (url.path, query, arrived)
        self._respond(server, url.path, query, arrived)

    def _record(self, status: int) -> None:
        # Logged before the answer goes out, so a client that got it sees it logged.
        path, query, arrived = self._request
        self.standin._record(RequestRecord("GET", path, query, status, arrived))

    def _respond(self, server: StandinServer, path: str, query: dict[str, str], now: float) -> int:
        fault = server.faults.take(path, urllib.parse.urlencode(query))
        if server.latency_s:
            time.sleep(server.latency_s)
        if fault is not None:
            return self._fault(fault)
        allowed, used, wait = server._admit(now)
        limit = server.rate_limit_per_min
        rate_headers = {
            "X-Discogs-Ratelimit": str(limit),
            "X-Discogs-Ratelimit-Used": str(used),
            "X-Discogs-Ratelimit-Remaining": str(max(0, limit - used)),
        }
        if not allowed:
            retry = {"Retry-After": str(max(1, math.ceil(wait)))}
            return self._json(
                429, {"message": "You are making requests too quickly."}, rate_headers | retry
            )
        if self.headers.get("Authorization") != f"Discogs token={server.token}":
            message = {"message": "You must authenticate to access this resource."}
            return self._json(401, message, rate_headers)
        return self._route(server, path, query, rate_headers)

    def _route(
        self, server: StandinServer, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> int:
        if path == "/database/search":
            return self._json(200, search(server.catalog, query, server.base_url), headers)
        found = re.fullmatch(r"/(releases|masters)/(\d+)", path)
        if found:
            pool = server.catalog.releases if found[1] == "releases" else server.catalog.masters
            entry = pool.get(int(found[2]))
            if entry is None:
                what = "Release" if found[1] == "releases" else "Master Release"
                return self._json(404, {"message": f"{what} not found."}, headers)
            return self._json(200, _absolute(entry, server.base_url), headers)
        return self._json(404, {"message": "The requested resource was not found."}, headers)

    def _fault(self, fault: Fault) -> int:
        if fault.kind == "429":
            headers = {"X-Discogs-Ratelimit-Remaining": "0"}
            if fault.retry_after is not None:  # None: a 429 that does not say how long to wait
                headers["Retry-After"] = str(fault.retry_after)
            return self._json(429, {"message": "You are making requests too quickly."}, headers)
        if fault.kind in ("500", "502", "503", "504"):
            return self._json(int(fault.kind), {"message": "Server error."}, {})
        if fault.kind == "echo":
            # Like a proxy's error page that quotes the request it refused: the credentials
            # header and the URL end up in the error message the client shows.
            quoted = f"Authorization: {self.headers.get('Authorization', '')} GET {self.path}"
            return self._json(403, {"message": f"Request refused ({quoted})"}, {})
        if fault.kind == "slow":
            time.sleep(fault.delay_s)
            return self._json(200, {"results": [], "pagination": {}}, {})
        if fault.kind == "malformed":
            return self._raw(200, b'{"results": [{"id": 1, "title": "Broken', None)
        if fault.kind == "truncated":
            body = json.dumps({"results": [], "pagination": {"items": 0}}).encode()
            return self._raw(200, body[: len(body) // 2], len(body))
        # "reset": abort the TCP connection (RST) without any response.
        self._record(0)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()
        return 0

    def _json(self, status: int, payload: JSON, headers: dict[str, str]) -> int:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        return status

    def _raw(self, status: int, body: bytes, declared_length: int | None) -> int:
        self._record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(declared_length or len(body)))
        self.end_headers()
        self.wfile.write(body)
        if declared_length is not None:
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        return status


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, help="catalog JSON (default: the demo catalog)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rpm", type=int, default=60, help="requests per minute")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per response")
    parser.add_argument("--token", default="standin-token")
    args = parser.parse_args(argv)
    if args.catalog is not None:
        try:
            catalog = Catalog.load(args.catalog)
        except ValueError as exc:
            parser.error(str(exc))
    else:
        from devtools.discogs_catalogs import demo_catalog

        catalog = demo_catalog()
    server = StandinServer(
        catalog,
        token=args.token,
        rate_limit_per_min=args.rpm,
        latency_s=args.latency,
        port=args.port,
    )
    base_url = server.start()
    print(f"Discogs stand-in on {base_url} (token {args.token!r}, {args.rpm} req/min)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

"""The one module that talks HTTP to the Discogs API.

`DiscogsClient` wraps one `requests.Session`: token auth, urllib3 retries (5xx, 429 with
``Retry-After``, connect/read errors) bounded in count and in time, and a thread-safe adaptive
rate limiter fed by the ``X-Discogs-Ratelimit*`` response headers. Every failure that survives
the retries is raised as `DiscogsError` with a one-line message that never contains the token.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

# A child of the plugin logger, never the plugin logger itself: beets logs that one with
# {}-style formatting, and a plain logging.Logger taking its name first breaks every call.
log = logging.getLogger("beets.discogsgenres.http")

__all__ = ["DiscogsClient", "DiscogsError", "DiscogsNotFound", "RateLimiter"]


class DiscogsError(Exception):
    """A Discogs request failed after retries (HTTP status, timeout, reset, bad JSON)."""


class _BadBodyError(DiscogsError):
    """The response arrived but its body is unusable: worth fetching again."""


class DiscogsNotFound(DiscogsError):  # noqa: N818 (the name is the public API)
    """Discogs answered 404 for a release or master: a definite answer, not a failure."""


class RateLimiter:
    """Thread-safe moving-window limiter that adapts to the server's rate-limit headers.

    Requests go out at full speed while the window has room; once ``limit - reserve``
    requests were sent within the last ``window_s`` seconds, each new request waits until the
    oldest one leaves the window (so the steady state is ``limit`` requests per window, evenly
    spread, and never a 429). The server's ``X-Discogs-Ratelimit`` replaces the configured
    limit, and a ``...-Used`` count above our own (another client sharing the token) is
    accounted for as if those requests had just been sent.
    """

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = 60.0,
        reserve: int = 1,
        margin_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError(f"rate limit must be >= 1 request per window, got {limit}")
        self.limit = limit
        self.window_s = window_s
        self.reserve = reserve
        # Our clock starts before the server's: a small margin keeps us behind its window.
        self.margin_s = margin_s
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def _capacity(self) -> int:
        return max(1, self.limit - self.reserve)

    def _purge(self, now: float) -> None:
        horizon = now - self.window_s - self.margin_s
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def delay(self) -> float:
        """Seconds the next request would have to wait now (0.0 when there is room)."""
        with self._lock:
            now = self._clock()
            self._purge(now)
            if len(self._sent) < self._capacity():
                return 0.0
            return self._sent[-self._capacity()] + self.window_s + self.margin_s - now

    def acquire(self, deadline: float | None = None) -> None:
        """Block until a request may be sent, then count it as sent.

        Raises `DiscogsError` if the wait would end after ``deadline`` (a clock value).
        """
        while True:
            with self._lock:
                now = self._clock()
                self._purge(now)
                capacity = self._capacity()
                if len(self._sent) < capacity:
                    self._sent.append(now)
                    return
                wait = self._sent[-capacity] + self.window_s + self.margin_s - now
            if deadline is not None and now + wait > deadline:
                raise DiscogsError(f"rate limit wait of {wait:.1f}s exceeds the time budget")
            self.waited_s += wait
            self._sleep(wait)

    def update(self, headers: Mapping[str, str]) -> None:
        """Learn the limit and the used count from ``X-Discogs-Ratelimit*`` headers."""
        limit = _int_header(headers, "X-Discogs-Ratelimit")
        used = _int_header(headers, "X-Discogs-Ratelimit-Used")
        if used is None:
            remaining = _int_header(headers, "X-Discogs-Ratelimit-Remaining")
            if limit is not None and remaining is not None:
                used = limit - remaining
        with self._lock:
            if limit is not None and limit >= 1:
                self.limit = limit
            if used is not None:
                now = self._clock()
                self._purge(now)
                for _ in range(used - len(self._sent)):
                    self._sent.append(now)


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


class _BoundedRetry(Retry):
    """urllib3 `Retry` whose total sleeping is capped by a time budget.

    The budget starts at the first failure of a request; `on_retry` runs before each retried
    attempt (rate limiting and request counting for the attempts urllib3 makes on its own).
    """

    def __init__(
        self,
        *args: Any,
        budget_s: float = 300.0,
        started: float | None = None,
        on_retry: Callable[[BaseHTTPResponse | None], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.budget_s = budget_s
        self.started = started
        self.on_retry = on_retry

    def new(self, **kw: Any) -> _BoundedRetry:
        retry = super().new(**kw)
        retry.budget_s = self.budget_s
        retry.started = self.started if self.started is not None else time.monotonic()
        retry.on_retry = self.on_retry
        return retry

    def _budget_left(self) -> float:
        if self.started is None:
            return self.budget_s
        return max(0.0, self.budget_s - (time.monotonic() - self.started))

    def is_exhausted(self) -> bool:
        return self._budget_left() <= 0.0 or super().is_exhausted()

    def get_backoff_time(self) -> float:
        return min(super().get_backoff_time(), self._budget_left())

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), self._budget_left())

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        super().sleep(response)
        if self.on_retry is not None:
            self.on_retry(response)


class DiscogsClient:
    """Discogs API client: search, release and master lookups.

    `requests_made` counts HTTP requests sent, including transport retries.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        user_agent: str,
        *,
        timeout: float = 15.0,
        max_retries: int = 4,
        rate_limit_per_min: int = 60,
        max_total_wait: float = 300.0,
        rate_window_s: float = 60.0,
        backoff_factor: float = 0.5,
    ) -> None:
        if not token:
            raise ValueError("a Discogs personal access token is required")
        if not user_agent:
            raise ValueError("a descriptive User-Agent is required by Discogs")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.max_total_wait = max_total_wait
        self.max_retries = max_retries
        self.limiter = RateLimiter(rate_limit_per_min, window_s=rate_window_s)
        self.requests_made = 0
        self._count_lock = threading.Lock()

        retry = _BoundedRetry(
            total=max_retries,
            connect=max_retries,
            read=max_retries,
            status=max_retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=frozenset({429, 500, 502, 503, 504}),
            backoff_factor=backoff_factor,
            backoff_max=30.0,
            retry_after_max=int(max_total_wait),
            respect_retry_after_header=True,
            raise_on_status=False,
            budget_s=max_total_wait,
            on_retry=self._before_retry,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=8)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {
                "Authorization": f"Discogs token={token}",
                "User-Agent": user_agent,
                "Accept": "application/json",
            }
        )

    # -- public API -------------------------------------------------------------------------

    def search_releases(
        self,
        title: str | None,
        artist: str | None,
        year: int | None,
        per_page: int = 10,
        *,
        text: str | None = None,
    ) -> list[dict[str, Any]]:
        """Search releases by title, artist, year and free ``text`` (each optional); returns
        the page's ``results``."""
        params: dict[str, str] = {"type": "release"}
        for name, value in (("release_title", title), ("artist", artist), ("q", text)):
            if value:
                params[name] = value
        if year:
            params["year"] = str(year)
        params["per_page"] = str(per_page)
        page = self._get_json("/database/search", params)
        results = page.get("results")
        if not isinstance(results, list):
            raise DiscogsError("malformed search page from /database/search: no results list")
        return [r for r in results if isinstance(r, dict)]

    def release(self, release_id: int) -> dict[str, Any]:
        """The full release object ``/releases/{id}``; `DiscogsNotFound` on 404."""
        return self._get_json(f"/releases/{int(release_id)}", {})

    def master(self, master_id: int) -> dict[str, Any]:
        """The master release object ``/masters/{id}``; `DiscogsNotFound` on 404."""
        return self._get_json(f"/masters/{int(master_id)}", {})

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> DiscogsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _count(self) -> None:
        with self._count_lock:
            self.requests_made += 1

    def _before_retry(self, response: BaseHTTPResponse | None) -> None:
        if response is not None:
            self.limiter.update(response.headers)
        self.limiter.acquire()
        self._count()

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "<token>")

    def _get_json(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        """GET and parse; a broken body (truncated, malformed, reset mid-body) is fetched again.

        urllib3's Retry ends once the headers arrive, so it cannot see a bad body: these get
        the same bounded number of retries here, within the same overall deadline.
        """
        deadline = time.monotonic() + self.max_total_wait
        for attempt in range(self.max_retries + 1):
            try:
                return self._get_json_once(path, params, deadline)
            except _BadBodyError as exc:
                if attempt == self.max_retries or time.monotonic() >= deadline:
                    raise DiscogsError(str(exc)) from None
                log.debug("GET %s: %s; fetching again", path, exc)
        raise AssertionError("unreachable")

    def _get_json_once(
        self, path: str, params: Mapping[str, str], deadline: float
    ) -> dict[str, Any]:
        url = self.base_url + path
        self.limiter.acquire(deadline)
        self._count()
        started = time.monotonic()
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
            body = response.content
        except requests.exceptions.ChunkedEncodingError as exc:  # connection lost mid-body
            raise _BadBodyError(self._redact(f"GET {path} failed: {_describe(exc)}")) from None
        except requests.RequestException as exc:
            log.debug("GET %s %s failed: %s", path, dict(params), type(exc).__name__)
            raise DiscogsError(self._redact(f"GET {path} failed: {_describe(exc)}")) from None
        self.limiter.update(response.headers)
        log.debug(
            "GET %s %s -> %d (%.2fs)",
            path,
            dict(params),
            response.status_code,
            time.monotonic() - started,
        )
        status = response.status_code
        if status == 404 and path.startswith(("/releases/", "/masters/")):
            raise DiscogsNotFound(f"GET {path}: HTTP 404 not found")
        if status != 200:
            detail = _message(body)
            raise DiscogsError(
                self._redact(f"GET {path}: HTTP {status}" + (f" ({detail})" if detail else ""))
            )
        try:
            data = json.loads(body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            reason = " ".join(str(exc).split())[:80]
            raise _BadBodyError(
                f"GET {path}: malformed JSON ({len(body)} bytes: {reason})"
            ) from None
        if not isinstance(data, dict):
            raise DiscogsError(f"GET {path}: expected a JSON object, got {type(data).__name__}")
        return data


def _message(body: bytes) -> str:
    """The ``message`` field of an error body, if there is one (truncated, one line)."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return " ".join(data["message"].split())[:120]
    return ""


def _describe(exc: requests.RequestException) -> str:
    """A one-line cause for a transport failure (the innermost reason, without URLs)."""
    if isinstance(exc, requests.Timeout):
        kind = "timed out"
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError):
        kind = "truncated response"
    elif isinstance(exc, requests.exceptions.RetryError):
        kind = "too many retries"
    elif isinstance(exc, requests.ConnectionError):
        kind = "connection error"
    else:
        kind = type(exc).__name__
    reason: BaseException = exc
    while True:
        nxt = getattr(reason, "reason", None) or reason.__context__
        if not isinstance(nxt, BaseException) or nxt is reason:
            break
        reason = nxt
    cause = " ".join(str(reason).split())
    if reason is exc or not cause:
        return kind
    return f"{kind}: {type(reason).__name__}: {cause[:160]}"

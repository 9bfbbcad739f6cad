"""DiscogsClient over real sockets against the local Discogs stand-in."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from beetsplug._dspipeline.discogs_http import (
    DiscogsClient,
    DiscogsError,
    DiscogsNotFound,
    RateLimiter,
    _message,
)
from devtools.discogs_standin import Catalog, StandinServer

TOKEN = "sekrit-Tok3n-do-not-leak"
AGENT = "beets-dspipeline-tests/0.1 +https://example.invalid"


def catalog() -> Catalog:
    cat = Catalog()
    cat.add_album("Kraftwerk", "Computer World", 1981, ["Electronic"], ["Synth-pop", "Electro"])
    cat.add_album("Björk", "Homogenic", 1997, ["Electronic"], ["Trip Hop"])
    return cat


@pytest.fixture
def discogs_server() -> Iterator[StandinServer]:
    with StandinServer(catalog(), token=TOKEN, rate_limit_per_min=10_000) as server:
        yield server


def client_for(server: StandinServer, **options: float) -> DiscogsClient:
    settings: dict[str, float] = {"timeout": 2.0, "backoff_factor": 0.01, "max_retries": 4}
    settings |= options
    return DiscogsClient(
        server.base_url,
        TOKEN,
        AGENT,
        timeout=settings["timeout"],
        max_retries=int(settings["max_retries"]),
        backoff_factor=settings["backoff_factor"],
        rate_limit_per_min=int(settings.get("rate_limit_per_min", 10_000)),
        rate_window_s=settings.get("rate_window_s", 60.0),
        max_total_wait=settings.get("max_total_wait", 30.0),
    )


def test_search_release_master_shapes(discogs_server: StandinServer) -> None:
    client = client_for(discogs_server)
    results = client.search_releases("Computer World", "Kraftwerk", 1981)
    assert [r["title"] for r in results] == ["Kraftwerk - Computer World"]
    hit = results[0]
    assert hit["year"] == "1981" and hit["genre"] == ["Electronic"]
    assert hit["style"] == ["Synth-pop", "Electro"] and hit["master_id"] > 0
    release = client.release(hit["id"])
    assert release["id"] == hit["id"] and release["master_id"] == hit["master_id"]
    assert release["artists"][0]["name"] == "Kraftwerk"
    master = client.master(hit["master_id"])
    assert master["main_release"] == hit["id"] and master["styles"] == ["Synth-pop", "Electro"]
    assert client.requests_made == 3
    query = discogs_server.request_log[0].query
    assert query["type"] == "release" and query["release_title"] == "Computer World"
    assert query["artist"] == "Kraftwerk" and query["year"] == "1981"


def test_missing_release_and_master_raise_not_found(discogs_server: StandinServer) -> None:
    client = client_for(discogs_server)
    with pytest.raises(DiscogsNotFound, match=r"/releases/999999: HTTP 404"):
        client.release(999999)
    with pytest.raises(DiscogsNotFound):
        client.master(999999)
    assert discogs_server.statuses() == [404, 404]  # a definite answer: not retried


def test_wrong_token_is_an_error_without_the_token(discogs_server: StandinServer) -> None:
    client = DiscogsClient(discogs_server.base_url, "wrong-" + TOKEN, AGENT)
    with pytest.raises(DiscogsError, match="HTTP 401") as info:
        client.search_releases("Homogenic", None, None)
    assert TOKEN not in str(info.value)
    assert discogs_server.statuses() == [401]


def test_429_with_retry_after_is_honoured_then_succeeds(discogs_server: StandinServer) -> None:
    discogs_server.faults.inject("429", times=1, retry_after=1)
    client = client_for(discogs_server)
    started = time.monotonic()
    assert client.search_releases("Homogenic", "Björk", None)[0]["title"] == "Björk - Homogenic"
    assert time.monotonic() - started >= 0.95  # waited for Retry-After, not the tiny backoff
    assert discogs_server.statuses() == [429, 200]
    assert client.requests_made == 2


def test_429_without_retry_after_is_retried_with_backoff(discogs_server: StandinServer) -> None:
    discogs_server.faults.inject("429", times=1, retry_after=None)
    client = client_for(discogs_server)
    assert client.search_releases("Homogenic", "Björk", None)[0]["title"] == "Björk - Homogenic"
    assert discogs_server.statuses() == [429, 200]


def test_5xx_retried_then_success(discogs_server: StandinServer) -> None:
    discogs_server.faults.inject("500", times=2)
    discogs_server.faults.inject("502", times=1)
    discogs_server.faults.inject("504", times=1)  # a gateway timeout in front of Discogs
    client = client_for(discogs_server)
    assert client.release(1000)["title"] == "Computer World"
    assert discogs_server.statuses() == [500, 500, 502, 504, 200]


def test_5xx_forever_is_a_bounded_error(discogs_server: StandinServer) -> None:
    discogs_server.faults.inject("503", times=None)
    client = client_for(discogs_server, max_retries=3)
    with pytest.raises(DiscogsError, match=r"GET /releases/1000: HTTP 503"):
        client.release(1000)
    assert discogs_server.statuses() == [503] * 4


def test_time_budget_stops_retries_before_the_count_does(discogs_server: StandinServer) -> None:
    discogs_server.faults.inject("429", times=None, retry_after=1)
    client = client_for(discogs_server, max_retries=50, max_total_wait=1.5)
    started = time.monotonic()
    with pytest.raises(DiscogsError, match="HTTP 429"):
        client.search_releases("Homogenic", None, None)
    assert 2 <= discogs_server.requests_count <= 4
    assert time.monotonic() - started < 10


def test_slow_answer_once_is_retried(discogs_server: StandinServer) -> None:
    discogs_server.faults.inject("slow", times=1, delay_s=1.0)
    client = client_for(discogs_server, timeout=0.3)
    assert client.release(1000)["id"] == 1000
    assert client.requests_made == 2


def test_timeout_forever_is_an_error(discogs_server: StandinServer) -> None:
    discogs_server.faults.inject("slow", times=None, delay_s=1.0)
    client = client_for(discogs_server, timeout=0.2, max_retries=1)
    with pytest.raises(DiscogsError, match="timed out"):
        client.search_releases("Homogenic", None, None)
    assert client.requests_made == 2


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
def test_bad_body_once_is_fetched_again(discogs_server: StandinServer, kind: str) -> None:
    discogs_server.faults.inject(kind, times=1)
    client = client_for(discogs_server)
    assert client.search_releases("Homogenic", None, None)
    assert client.requests_made == 2


@pytest.mark.parametrize(
    ("kind", "cause"), [("malformed", "malformed JSON"), ("truncated", "truncated response")]
)
def test_bad_body_forever_is_an_error(discogs_server: StandinServer, kind: str, cause: str) -> None:
    discogs_server.faults.inject(kind, times=None)
    client = client_for(discogs_server, max_retries=2)
    with pytest.raises(DiscogsError) as info:
        client.search_releases("Homogenic", None, None)
    assert str(info.value).startswith("GET /database/search") and cause in str(info.value)
    assert "\n" not in str(info.value)
    assert client.requests_made == 3  # bounded: 1 + max_retries
    discogs_server.faults.clear()
    assert client.search_releases("Homogenic", None, None)  # the next call is fine again


def test_connection_reset_once_is_retried(discogs_server: StandinServer) -> None:
    discogs_server.faults.inject("reset", times=1)
    client = client_for(discogs_server)
    assert client.master(100)["title"] == "Computer World"
    assert discogs_server.statuses() == [0, 200]


def test_connection_reset_forever_is_an_error(discogs_server: StandinServer) -> None:
    discogs_server.faults.inject("reset", times=None, path=r"^/masters/")
    client = client_for(discogs_server, max_retries=2)
    with pytest.raises(DiscogsError, match="GET /masters/100 failed: connection"):
        client.master(100)
    assert discogs_server.statuses() == [0, 0, 0]
    assert client.release(1000)["id"] == 1000  # the fault targets masters only


def test_token_never_in_errors_or_logs(
    discogs_server: StandinServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="beets.discogsgenres.http")
    client = client_for(discogs_server, max_retries=1, timeout=0.3)
    messages = []
    for kind in ("500", "reset", "slow", "malformed", "truncated"):
        discogs_server.faults.inject(kind, times=None, delay_s=0.6)
        with pytest.raises(DiscogsError) as info:
            client.search_releases(TOKEN, TOKEN, None)  # even a token-like query string
        messages.append(str(info.value))
        discogs_server.faults.clear()
    client.release(1000)
    assert any("/releases/1000" in r.getMessage() for r in caplog.records)
    for text in messages + [r.getMessage() for r in caplog.records]:
        assert "Discogs token=" not in text
    assert all(TOKEN not in m for m in messages)


def test_pacing_avoids_429_at_a_low_limit() -> None:
    # 5 requests per half-second window: 12 requests must be spread, never refused.
    with StandinServer(catalog(), token=TOKEN, rate_limit_per_min=5, window_s=0.5) as server:
        client = client_for(server, rate_limit_per_min=5, rate_window_s=0.5)
        for _ in range(12):
            client.release(1000)
        assert server.statuses() == [200] * 12
        assert client.limiter.waited_s > 0


def test_limit_learned_from_headers_and_shared_by_threads() -> None:
    # The client believes in 1000/window; the server's headers say 6: no 429 storm.
    with StandinServer(catalog(), token=TOKEN, rate_limit_per_min=6, window_s=0.5) as server:
        client = client_for(server, rate_limit_per_min=1000, rate_window_s=0.5)
        client.release(1000)
        assert client.limiter.limit == 6

        def work() -> None:
            for _ in range(4):
                client.release(1000)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert server.statuses() == [200] * 13


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_limiter_full_speed_with_room_then_paced() -> None:
    fake = FakeTime()
    # The default reserve of one request keeps us one below the server's limit.
    limiter = RateLimiter(60, window_s=60.0, margin_s=0.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(59):
        limiter.acquire()
        fake.now += 0.1
    assert fake.slept == []  # plenty of room: no pacing
    limiter.acquire()  # the 60th waits for the first to leave the window
    assert fake.slept == [pytest.approx(60.0 - 5.9)]
    limiter.acquire()
    assert fake.slept[-1] == pytest.approx(0.1)  # then one per freed slot


def test_limiter_counts_requests_from_other_clients() -> None:
    fake = FakeTime()
    limiter = RateLimiter(60, margin_s=0.0, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()
    limiter.update({"X-Discogs-Ratelimit": "25", "X-Discogs-Ratelimit-Remaining": "1"})
    assert limiter.limit == 25
    assert limiter.delay() == pytest.approx(60.0)  # 24 used of 25: keep the reserve
    with pytest.raises(DiscogsError, match="exceeds the time budget"):
        limiter.acquire(deadline=fake.now + 10)


def test_limiter_derives_the_used_count_from_remaining_without_a_used_header() -> None:
    fake = FakeTime()
    limiter = RateLimiter(60, margin_s=0.0, clock=fake.clock, sleep=fake.sleep)
    # No X-Discogs-Ratelimit-Used: 25 - 3 = 22 used, one kept in reserve, so two are free.
    limiter.update({"X-Discogs-Ratelimit": "25", "X-Discogs-Ratelimit-Remaining": "3"})
    assert limiter.delay() == 0.0
    limiter.acquire()
    limiter.acquire()
    assert fake.slept == [] and limiter.delay() == pytest.approx(60.0)


def test_error_messages_quote_at_most_120_characters_of_the_body() -> None:
    body = json.dumps({"message": "x" * 119 + "yz  and more"}).encode()
    assert _message(body) == "x" * 119 + "y"


def test_limiter_waits_for_the_slot_that_frees_the_window() -> None:
    # More requests in the window than our capacity (another client sharing the token): the
    # wait ends when the request `capacity` places from the newest leaves the window.
    fake = FakeTime()
    limiter = RateLimiter(5, window_s=60.0, margin_s=0.0, clock=fake.clock, sleep=fake.sleep)
    limiter.acquire()  # ours, at t=0
    fake.now = 10.0
    limiter.update({"X-Discogs-Ratelimit": "5", "X-Discogs-Ratelimit-Used": "6"})
    assert limiter.delay() == pytest.approx(60.0)
    limiter.acquire()
    assert fake.slept == [pytest.approx(60.0)]  # the t=10 requests leave at t=70

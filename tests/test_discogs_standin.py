"""The local Discogs stand-in, checked with plain HTTP clients (no DiscogsClient)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devtools.discogs_catalogs import demo_catalog
from devtools.discogs_standin import Catalog, StandinServer

TOKEN = "standin-test-token"
AUTH = {"Authorization": f"Discogs token={TOKEN}", "User-Agent": "standin-tests/0.1"}
CORPUS = Path(os.environ.get("DSP_CORPORA", Path.home() / ".cache/dspipeline-corpora"))


@pytest.fixture
def discogs_standin() -> Iterator[StandinServer]:
    with StandinServer(demo_catalog(), token=TOKEN, rate_limit_per_min=1000) as server:
        yield server


def get(server: StandinServer, path: str, **params: str) -> requests.Response:
    return requests.get(server.base_url + path, params=params, headers=AUTH, timeout=5)


def test_search_results_are_shaped_like_discogs(discogs_standin: StandinServer) -> None:
    response = get(discogs_standin, "/database/search", type="release", release_title="Discovery")
    assert response.status_code == 200
    assert response.headers["X-Discogs-Ratelimit"] == "1000"
    page = response.json()
    assert page["pagination"]["items"] == 3 and page["pagination"]["page"] == 1
    result = page["results"][0]
    for key in ("id", "title", "year", "genre", "style", "master_id", "format", "label",
                "country", "type", "uri", "resource_url", "community", "cover_image"):  # fmt: skip
        assert key in result
    assert result["type"] == "release" and isinstance(result["year"], str)
    assert result["resource_url"] == f"{discogs_standin.base_url}/releases/{result['id']}"
    assert {r["title"] for r in page["results"]} == {
        "Daft Punk - Discovery",
        "Electric Light Orchestra - Discovery",
        "Mike Oldfield - Discovery",
    }


def test_search_is_lenient_accent_insensitive_and_ranked(discogs_standin: StandinServer) -> None:
    page = get(
        discogs_standin,
        "/database/search",
        type="release",
        release_title="HOMOGENIC",
        artist="bjork",
    )
    assert [r["title"] for r in page.json()["results"]] == ["Björk - Homogenic"]
    # Half of the title words are enough to be listed; the full match ranks first.
    ranked = get(discogs_standin, "/database/search", type="release", release_title="Greatest Hits")
    titles = [r["title"] for r in ranked.json()["results"]]
    assert titles[-1] == "Various - Greatest Hits Of The 80's" and len(titles) == 3
    # The ANV and the (2)-less name both pass the artist filter; the title shows the ANV.
    anv = get(discogs_standin, "/database/search", type="release", artist="坂本龍一")
    assert [r["title"] for r in anv.json()["results"]] == [
        "坂本龍一* - 音楽図鑑 = Illustrated Musical Encyclopedia"
    ]
    name = get(discogs_standin, "/database/search", type="release", artist="Ryuichi Sakamoto")
    assert name.json()["results"][0]["id"] == anv.json()["results"][0]["id"]


def test_search_filters_year_type_and_pages(discogs_standin: StandinServer) -> None:
    by_year = get(discogs_standin, "/database/search", release_title="Computer World", year="2009")
    assert [r["year"] for r in by_year.json()["results"]] == ["2009"]
    masters = get(discogs_standin, "/database/search", type="master", q="kraftwerk")
    assert {r["type"] for r in masters.json()["results"]} == {"master"}
    page2 = get(discogs_standin, "/database/search", q="discovery", per_page="2", page="2")
    body = page2.json()
    assert body["pagination"]["pages"] == 3 and len(body["results"]) == 2  # 3 releases+3 masters


def test_release_master_and_not_found(discogs_standin: StandinServer) -> None:
    release_id = next(iter(discogs_standin.catalog.releases))
    release = get(discogs_standin, f"/releases/{release_id}").json()
    assert release["genres"] == ["Electronic"] and release["year"] == 1981
    master = get(discogs_standin, f"/masters/{release['master_id']}").json()
    assert master["main_release"] == release_id
    missing = get(discogs_standin, "/releases/1")
    assert missing.status_code == 404 and missing.json() == {"message": "Release not found."}


def test_token_is_checked(discogs_standin: StandinServer) -> None:
    response = requests.get(discogs_standin.base_url + "/releases/1000", timeout=5)
    assert response.status_code == 401
    wrong = {"Authorization": "Discogs token=nope"}
    assert (
        requests.get(discogs_standin.base_url + "/releases/1000", headers=wrong).status_code == 401
    )


def test_rate_limit_headers_and_429_over_the_window() -> None:
    with StandinServer(demo_catalog(), token=TOKEN, rate_limit_per_min=3, window_s=0.6) as server:
        answers = [get(server, "/releases/1000") for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert [a.headers["X-Discogs-Ratelimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
        assert answers[2].headers["X-Discogs-Ratelimit-Used"] == "3"
        assert int(answers[3].headers["Retry-After"]) >= 1
        time.sleep(0.65)  # the moving window frees up
        assert get(server, "/releases/1000").status_code == 200


def test_latency_is_applied() -> None:
    with StandinServer(demo_catalog(), token=TOKEN, latency_s=0.2) as server:
        started = time.monotonic()
        get(server, "/releases/1000")
        assert time.monotonic() - started >= 0.2


def test_faults_are_targeted_counted_and_logged(discogs_standin: StandinServer) -> None:
    discogs_standin.faults.inject("502", times=2, path=r"^/masters/")
    assert get(discogs_standin, "/releases/1000").status_code == 200  # not targeted
    assert [get(discogs_standin, "/masters/100").status_code for _ in range(3)] == [502, 502, 200]
    discogs_standin.faults.inject("malformed")
    with pytest.raises(json.JSONDecodeError):
        get(discogs_standin, "/releases/1000").json()
    discogs_standin.faults.inject("truncated")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(discogs_standin, "/releases/1000")
    discogs_standin.faults.inject("reset")
    with pytest.raises(requests.ConnectionError):
        get(discogs_standin, "/releases/1000")
    assert discogs_standin.faults.pending == []
    log = discogs_standin.request_log
    assert [r.status for r in log] == [200, 502, 502, 200, 200, 200, 0]
    assert log[1].path == "/masters/100" and discogs_standin.requests_count == 7


def test_unknown_fault_kind_is_refused(discogs_standin: StandinServer) -> None:
    with pytest.raises(ValueError, match="unknown fault kind 'teapot'"):
        discogs_standin.faults.inject("teapot")


def test_catalog_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    demo_catalog().save(path)
    loaded = Catalog.load(path)
    assert loaded.releases == demo_catalog().releases and loaded.masters == demo_catalog().masters
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"bad\.json: not a catalog"):
        Catalog.load(bad)


def test_command_line_server(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    demo_catalog().save(path)
    command = [sys.executable, "-m", "devtools.discogs_standin", "--catalog", str(path),
               "--port", "0", "--rpm", "100", "--token", TOKEN]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().split()[3]
            answer = requests.get(f"{base_url}/releases/1000", headers=AUTH, timeout=5)
            assert answer.json()["title"] == "Computer World"
            assert answer.headers["X-Discogs-Ratelimit"] == "100"
        finally:
            proc.terminate()


@pytest.mark.corpus
@pytest.mark.skipif(not (CORPUS / "discogs").is_dir(), reason="Discogs API samples not fetched")
def test_search_result_keys_cover_the_real_api_sample(discogs_standin: StandinServer) -> None:
    sample_path = (
        CORPUS / "discogs/database/search_artist=trash80&title=icarus&per_page=50&page=1.json"
    )
    sample = json.loads(sample_path.read_text())
    real_keys = set().union(*(r.keys() for r in sample["results"] if r["type"] == "release"))
    ours = get(discogs_standin, "/database/search", type="release", q="homogenic").json()
    assert real_keys - {"thumb"} <= set(ours["results"][0]) | {"thumb"}
    assert set(sample["pagination"]) <= set(ours["pagination"])


def test_classical_credits_show_composer_and_performers() -> None:
    catalog = Catalog()
    catalog.add_album(["Johann Sebastian Bach", "Glenn Gould"], "Goldberg Variations", 1982,
                      ["Classical"], ["Baroque"], anv="Bach", join=",")  # fmt: skip
    with StandinServer(catalog, token=TOKEN, rate_limit_per_min=100) as server:
        page = get(server, "/database/search", type="release", artist="Glenn Gould", q="bach")
        assert [r["title"] for r in page.json()["results"]] == [
            "Bach*, Glenn Gould - Goldberg Variations"
        ]
        release = get(server, f"/releases/{page.json()['results'][0]['id']}").json()
        assert [(a["name"], a["join"]) for a in release["artists"]] == [
            ("Johann Sebastian Bach", ","),
            ("Glenn Gould", ""),
        ]

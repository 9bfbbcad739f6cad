"""Executors: in-process, local worker processes and a Dask cluster give the same outcomes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from beetsplug._dspipeline.sonic.executor import (
    AnalysisJob,
    AnalysisOutcome,
    _LocalWorkers,
    _process_context,
    analyse_job,
    map_path,
    run_jobs,
)
from beetsplug._dspipeline.sonic.extract import analyse_file
from tests import audio_fixtures as fx


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> list[AnalysisJob]:
    root = tmp_path_factory.mktemp("lib")
    paths = [
        fx.write(root / "a.flac", fx.song(5.0, bpm=100.0)),
        fx.write(root / "b.wav", fx.clicks(130.0, 5.0)),
        fx.write(root / "c.mp3", fx.chord((0, 4, 7), 4.0)),
        fx.corrupt_file(root / "bad.flac"),
        root / "gone.wav",
        fx.write(root / "d.ogg", fx.noise(3.0)),
    ]
    return [AnalysisJob(key, str(path)) for key, path in enumerate(paths, start=10)]


def _by_key(outcomes: list[AnalysisOutcome]) -> dict[int, AnalysisOutcome]:
    return {o.key: o for o in outcomes}


def _assert_same(got: dict[int, AnalysisOutcome], expected: dict[int, AnalysisOutcome]) -> None:
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        have = got[key]
        assert (have.path, have.reason, have.message) == (want.path, want.reason, want.message)
        if want.features is None:
            assert have.features is None
            continue
        assert have.features is not None
        for name in ("full", "start", "mid", "end"):
            np.testing.assert_array_equal(
                getattr(have.features, name), getattr(want.features, name)
            )
        assert have.features.audio_hash == want.features.audio_hash


@pytest.fixture(scope="module")
def in_process(library: list[AnalysisJob]) -> dict[int, AnalysisOutcome]:
    return _by_key(list(run_jobs(library, workers=1)))


def test_in_process_outcomes(
    library: list[AnalysisJob], in_process: dict[int, AnalysisOutcome]
) -> None:
    assert in_process[13].reason == "corrupt" and in_process[13].features is None
    assert in_process[14].reason == "missing" and "gone.wav" in (in_process[14].message or "")
    ok = in_process[10]
    assert ok.reason is None and ok.features is not None and ok.seconds > 0
    direct = analyse_file(library[0].path)
    np.testing.assert_array_equal(ok.features.full, direct.full)


def test_local_processes_match_in_process(
    library: list[AnalysisJob], in_process: dict[int, AnalysisOutcome]
) -> None:
    _assert_same(_by_key(list(run_jobs(iter(library), workers=2))), in_process)


def test_spawned_workers_match_in_process(
    library: list[AnalysisJob], in_process: dict[int, AnalysisOutcome]
) -> None:
    """With another thread alive (the importer runs plugin listeners in threads) workers are
    spawned, not forked; they answer the same."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        context = _process_context()
    finally:
        stop.set()
        other.join()
    assert context.get_start_method() == "spawn"
    workers = _LocalWorkers(context, library, ())
    got: dict[int, AnalysisOutcome] = {}
    try:
        workers.start(2)
        while workers.readers:  # each worker takes jobs until none is left, then ends
            got.update((outcome.key, outcome) for _, outcome in workers.collect(timeout=None))
        _assert_same(got, in_process)
    finally:
        workers.stop()
    assert not [p for p in workers.processes if p.is_alive()]


def test_path_map(tmp_path: Path) -> None:
    path = fx.write(tmp_path / "music" / "x.wav", fx.clicks(120.0, 3.0))
    job = AnalysisJob(1, "/nas/music/x.wav")
    mapped = analyse_job(job, [("/nas", "/elsewhere"), ("/nas/music", str(path.parent))])
    assert mapped.features is not None and mapped.path == "/nas/music/x.wav"
    assert map_path("/nas/musicals/y.wav", [("/nas/music/", "/m/")]) == "/nas/musicals/y.wav"
    unmapped = analyse_job(job)
    assert unmapped.reason == "missing"


def test_bad_executor_arguments() -> None:
    with pytest.raises(ValueError, match="scheduler"):
        run_jobs([], workers=1, executor="dask")
    with pytest.raises(ValueError, match="unknown executor"):
        run_jobs([], workers=1, executor="cloud")  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("processes", [False, True])
def test_dask_cluster_matches_in_process(
    library: list[AnalysisJob], in_process: dict[int, AnalysisOutcome], processes: bool
) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2 if processes else 1,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=None,
        host="127.0.0.1",
        protocol="tcp",
    ) as cluster:
        outcomes = list(
            run_jobs(library, workers=2, executor="dask", scheduler=cluster.scheduler_address)
        )
    _assert_same(_by_key(outcomes), in_process)

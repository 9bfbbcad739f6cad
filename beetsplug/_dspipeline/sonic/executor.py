"""Run many analyses: in-process, on local worker processes, or on a Dask distributed cluster.

Workers only compute and return features (numpy arrays and scalars); the caller writes
everything. Work in flight is bounded (2 jobs per worker), so a library of 100k tracks never
sits in memory as futures.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Sequence, Sized
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from .decode import AnalysisError
from .extract import TrackFeatures, analyse_file, warm_up

IN_FLIGHT_PER_WORKER = 2


@dataclass(frozen=True)
class AnalysisJob:
    key: int  # caller's identifier (e.g. the beets item id)
    path: str  # path as the caller sees it


@dataclass(frozen=True)
class AnalysisOutcome:
    key: int
    path: str  # the job's path (not the worker-side mapped one)
    features: TrackFeatures | None  # None on failure
    reason: str | None  # AnalysisError reason code on failure
    message: str | None  # one-line failure message naming the file
    seconds: float  # wall time of the analysis on the worker


def map_path(path: str, path_map: Sequence[tuple[str, str]]) -> str:
    """Rewrite the longest matching local prefix to its worker-side prefix."""
    for local, remote in sorted(path_map, key=lambda pair: len(pair[0]), reverse=True):
        if path.startswith(local):
            return remote + path[len(local) :]
    return path


def analyse_job(job: AnalysisJob, path_map: Sequence[tuple[str, str]] = ()) -> AnalysisOutcome:
    """Analyse one job; never raises (failures become outcomes). Top-level for pickling."""
    started = time.perf_counter()
    path = map_path(job.path, path_map)
    try:
        features = analyse_file(path)
    except AnalysisError as exc:
        return _failure(job, exc.reason, exc.message, started)
    except Exception as exc:  # a worker must report, not die, whatever one file does
        return _failure(job, "internal", f"{path}: {type(exc).__name__}: {exc}", started)
    return AnalysisOutcome(job.key, job.path, features, None, None, time.perf_counter() - started)


def _failure(job: AnalysisJob, reason: str, message: str, started: float) -> AnalysisOutcome:
    return AnalysisOutcome(job.key, job.path, None, reason, message, time.perf_counter() - started)


SCHEDULER_CONNECT_S = 10
WATCHDOG_POLL_S = 0.5  # where pidfds are missing: how often a worker checks for its parent
# CPU seconds a local pool costs to start (fork server importing librosa, workers warming up):
# with less work than this left, this process finishes it alone.
POOL_START_S = 5.0


def _init_worker(parent_pid: int | None = None) -> None:
    """Per-process setup: pay librosa's imports and numba compilation before the first job.

    A local worker also ignores SIGINT and SIGTERM, which a terminal or service manager sends
    to the whole process group: the parent stops the pool itself (instead of every worker
    printing a KeyboardInterrupt traceback, or dying into failures recorded for its tracks).
    And it exits as soon as the parent process is gone: after a `kill -9` of the parent it
    would otherwise wait forever on a queue whose write end it holds itself, keeping the fork
    server and resource tracker alive too.
    """
    if parent_pid is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        threading.Thread(target=_exit_with, args=(parent_pid,), daemon=True).start()
    warm_up()


def _exit_with(pid: int) -> None:
    """Block until process `pid` ends, then end this process (a watchdog thread)."""
    try:
        # Linux: a pidfd becomes readable when the process exits (even before it is reaped).
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while _alive(pid):
            time.sleep(WATCHDOG_POLL_S)
    else:
        select.select([fd], [], [])
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _ready() -> bool:
    """A no-op job: its completion says the pool has a warmed-up worker."""
    return True


def run_jobs(
    jobs: Iterable[AnalysisJob],
    *,
    workers: int,
    executor: Literal["local", "dask"] = "local",
    scheduler: str | None = None,
    path_map: Sequence[tuple[str, str]] = (),
) -> Generator[AnalysisOutcome, None, None]:
    """Analyse `jobs`, yielding outcomes as they complete (not in job order). Closing the
    generator early stops the workers at once.

    executor="local": `workers` processes (workers <= 1 runs in this process).
    executor="dask": the Dask cluster at `scheduler` ("tcp://host:8786"); `path_map` rewrites
    local path prefixes to the workers' view. Raises ImportError without dask.distributed.
    """
    path_map = tuple((str(a), str(b)) for a, b in path_map)
    if executor == "dask":
        if not scheduler:
            raise ValueError("the dask executor needs a scheduler address (tcp://host:8786)")
        # Imported here, not in the generator, so a missing extra fails at the call.
        distributed = importlib.import_module("distributed")
        return _run_dask(distributed, iter(jobs), scheduler, path_map, workers)
    if executor != "local":
        raise ValueError(f"unknown executor {executor!r} (expected 'local' or 'dask')")
    count = len(jobs) if isinstance(jobs, Sized) else None
    if count is not None:  # no more workers than jobs
        workers = min(workers, count)
    if workers <= 1:
        return (analyse_job(job, path_map) for job in jobs)
    return _run_local(iter(jobs), workers, path_map, count)


def _process_context() -> multiprocessing.context.BaseContext:
    """forkserver where there is one, else spawn: both are safe with threads in the parent
    (beets, Dask clients). The fork server imports librosa once and every worker forks from it,
    instead of re-importing for ~3 s of CPU."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["librosa", "scipy.signal", __name__])
    return context


def _run_local(
    jobs: Iterator[AnalysisJob],
    workers: int,
    path_map: tuple[tuple[str, str], ...],
    count: int | None = None,
) -> Generator[AnalysisOutcome, None, None]:
    """Analyse on `workers` local processes, started only when the work is worth it.

    Starting the pool costs seconds of CPU (the fork server imports librosa, each worker loads
    the numba cache). So this process analyses jobs itself first, and starts the pool once the
    remaining jobs (of `count`, when known) look longer than that start-up; it goes on
    analysing until a worker is ready. A small set never waits for (or pays) a pool. Closing
    the generator early (an interrupt, an error in the caller) stops the workers at once.
    """
    warm_up()  # before timing this process's first job
    remaining = count
    pool: ProcessPoolExecutor | None = None
    probe: list[Future[bool]] = []
    starter: threading.Thread | None = None
    try:
        while not (probe and probe[0].done()):
            job = next(jobs, None)
            if job is None:
                return
            outcome = analyse_job(job, path_map)
            remaining = None if remaining is None else remaining - 1
            if pool is None and (remaining is None or remaining * outcome.seconds > POOL_START_S):
                pool, starter = _start_pool(workers, probe)
            yield outcome
        assert pool is not None  # the probe ran on it
        pending: dict[Future[AnalysisOutcome], AnalysisJob] = {}

        def top_up(pool: ProcessPoolExecutor) -> None:
            while len(pending) < workers * IN_FLIGHT_PER_WORKER:
                job = next(jobs, None)
                if job is None:
                    return
                pending[pool.submit(analyse_job, job, path_map)] = job

        top_up(pool)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                yield _result(future, job)
            top_up(pool)
    finally:
        if starter is not None:
            starter.join()
        if pool is not None:
            _stop(pool)


def _start_pool(
    workers: int, probe: list[Future[bool]]
) -> tuple[ProcessPoolExecutor, threading.Thread]:
    """A worker pool, and a thread that puts a no-op job's future into `probe` (done = a worker
    is ready); submit() blocks while the fork server starts, hence the thread."""
    pool = ProcessPoolExecutor(
        workers, mp_context=_process_context(), initializer=_init_worker, initargs=(os.getpid(),)
    )
    starter = threading.Thread(target=lambda: probe.append(pool.submit(_ready)), daemon=True)
    starter.start()
    return pool, starter


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel queued jobs and end the worker processes now (idle or not): they only compute,
    the caller stores, so nothing is lost but the jobs in flight."""
    # ProcessPoolExecutor has no public way to end busy workers before Python 3.14.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError):
            process.kill()  # workers ignore SIGTERM (see _init_worker)
    for process in processes:
        process.join(timeout=5)


def _result(future: Any, job: AnalysisJob) -> AnalysisOutcome:
    """The outcome a future carries, or an 'internal' failure if its worker died."""
    try:
        outcome: AnalysisOutcome = future.result()
    except Exception as exc:
        message = f"{job.path}: worker failed: {type(exc).__name__}: {exc}"
        return AnalysisOutcome(job.key, job.path, None, "internal", message, 0.0)
    return outcome


def _run_dask(
    distributed: Any,  # the module; only partly typed, so used dynamically
    jobs: Iterator[AnalysisJob],
    scheduler: str,
    path_map: tuple[tuple[str, str], ...],
    workers: int,
) -> Generator[AnalysisOutcome, None, None]:
    # A scheduler that does not answer in 10 s is not coming: say so instead of waiting 30 s.
    with distributed.Client(scheduler, timeout=SCHEDULER_CONNECT_S) as client:
        client.run(_init_worker)
        threads = sum(client.nthreads().values()) or 1
        window = max(workers, threads) * IN_FLIGHT_PER_WORKER
        pending: dict[str, AnalysisJob] = {}
        completed = distributed.as_completed()

        def submit(job: AnalysisJob) -> None:
            future = client.submit(analyse_job, job, path_map, pure=False)
            pending[future.key] = job
            completed.add(future)

        for job in jobs:
            submit(job)
            if len(pending) >= window:
                break
        for future in completed:
            job = pending.pop(future.key)
            outcome = _result(future, job)
            future.release()
            yield outcome
            next_job = next(jobs, None)
            if next_job is not None:
                submit(next_job)

"""Run many analyses: in-process, on local worker processes, or on a Dask distributed cluster.

Workers only compute and return features (numpy arrays and scalars); the caller writes
everything. Local workers take one job at a time; on Dask, work in flight is bounded (2 jobs
per worker), so a library of 100k tracks never sits in memory as futures.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, Literal

from .decode import AnalysisError
from .extract import TrackFeatures, analyse_file, warm_up

if TYPE_CHECKING:  # ForkContext exists only where fork does
    from multiprocessing.context import ForkContext, SpawnContext

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
# Seconds a spawned worker costs to start (interpreter, imports, filter banks: 0.5-0.6 s of CPU,
# 0.7-1.1 s wall at load 3): with less work than this left, this process finishes it alone.
# Forked workers cost ~0.
POOL_START_S = 2.0
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _init_worker(parent_pid: int | None = None) -> None:
    """Per-process setup: pay the imports and the filter banks' construction before the first job.

    A local worker also ignores SIGINT and SIGTERM, which a terminal or service manager sends
    to the whole process group: the parent stops the workers itself (instead of every worker
    printing a KeyboardInterrupt traceback). A forked worker starts with both signals blocked
    (see `_LocalWorkers.start`), so none arrives before they are ignored. And it exits as soon
    as the parent process is gone: after a `kill -9` of the parent nobody reads its results.
    """
    if parent_pid is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        threading.Thread(target=_exit_with, args=(parent_pid,), daemon=True).start()
    warm_up()  # a no-op in a worker forked from a warm parent


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

    executor="local": this process and `workers` - 1 worker processes (workers <= 1: this
    process alone). executor="dask": the Dask cluster at `scheduler` ("tcp://host:8786");
    `path_map` rewrites local path prefixes to the workers' view. Raises ImportError without
    dask.distributed.
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
    if workers <= 1:
        return _in_process(jobs, path_map)
    job_list = list(jobs)  # workers index into it
    if len(job_list) <= 1:
        return _in_process(job_list, path_map)
    return _run_local(job_list, min(workers, len(job_list)), path_map)


def _in_process(
    jobs: Iterable[AnalysisJob], path_map: tuple[tuple[str, str], ...]
) -> Generator[AnalysisOutcome, None, None]:
    # Warm up before the first file is opened, as _run_local does: start-up, then analysis.
    warm_up()
    for job in jobs:
        yield analyse_job(job, path_map)


def _process_context() -> ForkContext | SpawnContext:
    """fork where it is safe: this process is warm by then, so a forked worker starts in
    milliseconds with nothing to import or compile, and shares this process's memory pages.
    Not with other threads alive here (a lock one of them holds would stay locked in the
    child; the importer runs plugin listeners in its threads) and not on macOS (its system
    libraries are not fork-safe): then spawn, whose workers import and warm up on their own.
    """
    if (
        sys.platform != "darwin"
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    ):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _run_local(
    jobs: list[AnalysisJob], workers: int, path_map: tuple[tuple[str, str], ...]
) -> Generator[AnalysisOutcome, None, None]:
    """Analyse `jobs` in this process and on `workers` - 1 worker processes.

    Everyone takes the next job from one shared counter, so no core waits for another to hand
    out work and the last jobs go to whoever is free. This process analyses too, and stores
    (the caller does, between this process's jobs) what the workers send meanwhile. Forked
    workers start at once; spawned ones only once the jobs left look longer than their
    start-up. Closing the generator (an interrupt, an error in the caller) kills the workers.
    """
    warm_up()  # before forking: the workers inherit it
    pool = _LocalWorkers(_process_context(), jobs, path_map)
    answered = bytearray(len(jobs))  # 1 once a job's outcome was yielded
    try:
        if pool.forks:
            pool.start(workers - 1)
        while (index := pool.claim()) is not None:
            own = analyse_job(jobs[index], path_map)
            answered[index] = 1
            yield own
            for index, outcome in pool.collect(timeout=0):
                answered[index] = 1
                yield outcome
            left = len(jobs) - pool.claimed()
            if not pool.started and left * own.seconds > POOL_START_S:
                pool.start(min(workers - 1, left))
        # Every job is taken: wait for the workers' answers (or for no worker to be left).
        while 0 in answered and pool.readers:
            for index, outcome in pool.collect(timeout=None):
                answered[index] = 1
                yield outcome
        for index in (i for i, done in enumerate(answered) if not done):
            job = jobs[index]  # taken by a worker that died before answering
            message = f"{job.path}: worker failed: its process ended before answering"
            yield AnalysisOutcome(job.key, job.path, None, "internal", message, 0.0)
    finally:
        pool.stop()


class _LocalWorkers:
    """Worker processes that take jobs by index from a shared counter and send back
    (index, outcome) pairs, each on its own pipe (a worker that dies mid-message then
    garbles nothing but its own pipe)."""

    def __init__(
        self,
        context: ForkContext | SpawnContext,
        jobs: list[AnalysisJob],
        path_map: tuple[tuple[str, str], ...],
    ) -> None:
        self.context = context
        self.forks = context.get_start_method() == "fork"
        self.jobs = jobs
        self.path_map = path_map
        self.next_index = context.Value("q", 0)
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.readers: list[Connection] = []
        self.started = False

    def claim(self) -> int | None:
        return _claim(self.next_index, len(self.jobs))

    def claimed(self) -> int:
        """How many jobs were taken so far (by anyone): jobs 0 .. claimed() - 1."""
        return int(self.next_index.value)

    def start(self, count: int) -> None:
        """Start `count` workers. SIGINT and SIGTERM stay blocked meanwhile: a forked worker
        starts with them blocked (it ignores them, then unblocks), and this process gets them
        once each worker is on the list `stop` kills."""
        self.started = True
        blocked = hasattr(signal, "pthread_sigmask")
        if blocked:
            signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        # A forked worker's garbage collector then leaves this process's objects alone: their
        # pages stay shared, and nothing of this process (SQLite handles) is finalised there.
        gc.freeze()
        try:
            for _ in range(count):
                reader, writer = self.context.Pipe(duplex=False)
                process = self.context.Process(
                    target=_worker_main,
                    args=(self.jobs, self.next_index, writer, self.path_map, os.getpid()),
                    daemon=True,
                )
                self.readers.append(reader)
                try:
                    process.start()
                finally:
                    writer.close()  # the worker's copy only: its exit is then EOF here
                self.processes.append(process)
        finally:
            gc.unfreeze()
            if blocked:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    def collect(self, timeout: float | None) -> list[tuple[int, AnalysisOutcome]]:
        """The (index, outcome) pairs that arrived, waiting up to `timeout` seconds for one
        (None: until one arrives or every worker has ended)."""
        got: list[tuple[int, AnalysisOutcome]] = []
        for reader in wait(self.readers, timeout):
            assert isinstance(reader, Connection)
            try:
                while reader.poll():
                    got.append(reader.recv())
            except (EOFError, OSError):  # the worker ended (done, or died)
                self.readers.remove(reader)
                reader.close()
        return got

    def stop(self) -> None:
        """End the workers now, busy or not: they only compute, the caller stores, so nothing
        is lost but the jobs in flight."""
        for process in self.processes:
            with contextlib.suppress(OSError):
                process.kill()  # workers ignore SIGTERM (see _init_worker)
        for process in self.processes:
            process.join(timeout=5)
        for reader in self.readers:
            reader.close()
        self.readers.clear()


def _claim(next_index: Any, count: int) -> int | None:
    """The next job's index, or None when all `count` are taken."""
    with next_index.get_lock():
        index = int(next_index.value)
        if index >= count:
            return None
        next_index.value = index + 1
        return index


def _worker_main(
    jobs: list[AnalysisJob],
    next_index: Any,
    writer: Connection,
    path_map: tuple[tuple[str, str], ...],
    parent_pid: int,
) -> None:
    _init_worker(parent_pid)
    while (index := _claim(next_index, len(jobs))) is not None:
        outcome = analyse_job(jobs[index], path_map)
        try:
            writer.send((index, outcome))
        except OSError:  # the parent is gone
            os._exit(1)


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

"""Mutation testing (cosmic-ray) of the command layer and the core modules it leans on.

Not part of ``./scripts/test``: a habit to run after changing one of the TARGETS, with its
score and the review of its surviving mutants recorded in docs/testing.md.

    .venv/bin/python -m devtools.mutation                      # every target
    .venv/bin/python -m devtools.mutation playlist.py --budget 1800
    .venv/bin/python -m devtools.mutation --report             # scores so far, run nothing
    .venv/bin/python -m devtools.mutation layout.py --retry-survivors   # after adding tests

Each target module is mutated in a copy of the tracked tree under ``--work`` (default
``.mutation/``; the checkout is never touched) and checked with the fast test files that cover
it, ``pytest -x`` so a killed mutant stops at its first failing test. Runs are niced and have a
time budget per module; the session database is kept, so the next run resumes with the mutants
not tried yet (a changed module starts a new session). cosmic-ray comes from the ``[mutation]``
extra and is installed into the running Python when missing.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# One `beet config -d` call: every documented default of the adapters' `config.add`.
DEFAULTS_TEST = "tests/test_documented_defaults.py"

# Module -> the test files (and -k selections) that cover it and run in seconds to minutes.
TARGETS: dict[str, list[str]] = {
    "beetsplug/_dspipeline/sonic/layout.py": ["tests/test_feature_layout.py"],
    "beetsplug/_dspipeline/playlist.py": ["tests/test_playlist.py"],
    "beetsplug/_dspipeline/discogs_http.py": [
        "tests/test_discogs_http.py",
        "tests/test_token_secrecy.py",
    ],
    "beetsplug/dsplaylist.py": [
        DEFAULTS_TEST,
        *(
            f"tests/test_command_flags.py::test_{name}"
            for name in (
                "mode_flag_selects_the_mode",
                "configured_mode_and_mode_thresholds_are_used",
                "max_per_artist_flag_and_setting",
                "count_flag_and_setting",
                "output_relative_and_pretend",
                "stale_warning_after_a_library_change",
                "seeds_missing_from_the_artifacts_are_counted",
                "no_sidecar_is_created_by_a_playlist",
                "relaxed_picks_carry_their_step",
                "journey_ends_at_the_first_match",
            )
        ),
        "tests/test_dsplaylist_cli.py",
    ],
    "beetsplug/discogsgenres.py": [
        DEFAULTS_TEST,
        "tests/test_token_secrecy.py",
        "tests/test_discogsgenres_plugin.py",
        "tests/test_discogs_writeback.py::test_verbose_shows_candidates_scores_and_why",
        "tests/test_discogs_writeback.py::test_import_stage_sets_genres_and_never_writes_the_source_files",
        "tests/test_command_flags.py::test_threshold_flag_and_its_boundary",
        "tests/test_command_flags.py::test_limit_below_one_is_refused",
        "tests/test_command_flags.py::test_exit_status_is_1_only_when_every_lookup_failed",
        "tests/test_faults.py::test_config_typo_during_an_import_is_a_warning_and_the_import_goes_on",
    ],
    "beetsplug/sonicanalysis.py": [
        DEFAULTS_TEST,
        "tests/test_command_flags.py::test_limit_analyses_at_most_n",
        "tests/test_command_flags.py::test_retry_failed_decides_over_an_unchanged_failed_file",
        "tests/test_command_flags.py::test_bpm_is_filled_only_when_empty_and_set_bpm_is_on",
        "tests/test_command_flags.py::test_limit_below_one_is_refused",
        "tests/test_sonicanalysis_plugin.py",
        "tests/test_faults.py::test_config_typo_during_an_import_is_a_warning_and_the_import_goes_on",
    ],
    # test_report.py checks the core report only: the adapter runs in these `beet dsreport` tests.
    "beetsplug/dsreport.py": [
        "tests/test_buildartifacts_plugin.py::test_report_is_written_and_matches_the_sidecar",
        "tests/test_dsplaylist_cli.py::test_report_artifacts_option",
        "tests/test_dsplaylist_cli.py::test_report_keeps_the_last_full_build_beside_the_last_call",
        "tests/test_faults.py::test_report_into_a_directory_named_with_a_slash",
        "tests/test_faults.py::test_bad_option_is_one_line_before_any_work",
    ],
    "beetsplug/buildartifacts.py": [DEFAULTS_TEST, "tests/test_buildartifacts_plugin.py"],
    # The beets <-> core bridge every command goes through: config checks, album keys, the
    # library source, one-line errors. Its tests are the CLI ones (minutes per survivor).
    "beetsplug/_dsp_beets.py": [
        DEFAULTS_TEST,
        "tests/test_faults.py",
        "tests/test_command_flags.py",
        "tests/test_discogs_writeback.py",
        "tests/test_buildartifacts_plugin.py",  # the library source's genres, keys, fast path
        "tests/test_discogsgenres_plugin.py",  # lookup targets: discogs_albumid fetched directly
        # the executor setting (the other sonic settings are in test_command_flags)
        "tests/test_sonicanalysis_plugin.py::test_dask_without_scheduler_is_a_clear_error",
        "tests/test_sonicanalysis_plugin.py::test_unreachable_dask_scheduler_is_a_one_line_error",
    ],
}

# Mutants drawn by --more, per batch (in the cosmic-ray session database).
BATCHES_TABLE = "CREATE TABLE IF NOT EXISTS sample_batches (job_id TEXT PRIMARY KEY, batch INT)"

# Operators left out: bit, shift, power, modulo and floor-division swaps mostly duplicate a
# killed +-*/ mutant or rewrite `X | None` annotations (never evaluated here: equivalent);
# `is`/`is not` swaps of value comparisons are equivalent for small ints and interned strings.
EXCLUDED_OPERATORS = [
    r"core/ReplaceBinaryOperator_.*(Pow|Mod|FloorDiv|RShift|LShift|BitOr|BitAnd|BitXor)",
    r"core/ReplaceComparisonOperator_(Eq|NotEq|Lt|LtE|Gt|GtE)_(Is|IsNot)$",
    r"core/ReplaceComparisonOperator_(Is|IsNot)_(Lt|LtE|Gt|GtE)$",
    r"core/VariableInserter",
    r"core/VariableReplacer",
]


@dataclass
class Score:
    module: str
    killed: int
    survived: int
    incompetent: int
    pending: int
    sampled_out: int
    batches: dict[int, tuple[int, int]]  # batch -> (killed, survived) of drawn later (--more)

    @property
    def percent(self) -> float:
        tried = self.killed + self.survived
        return 100.0 * self.killed / tried if tried else 0.0

    def line(self) -> str:
        return (
            f"{self.module}: {self.killed} killed, {self.survived} survived "
            f"({self.percent:.1f} % killed), {self.incompetent} incompetent, "
            f"{self.pending} not tried yet"
            + (f", {self.sampled_out} left out of the sample" if self.sampled_out else "")
            + "".join(
                f"\n  later batch {batch}: {k} killed, {s} survived"
                for batch, (k, s) in sorted(self.batches.items())
            )
        )


def ensure_cosmic_ray() -> None:
    if shutil.which("cosmic-ray", path=str(Path(sys.executable).parent)) is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "-e", f"{ROOT}[mutation]"], check=True
        )


def tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def copy_tree(dest: Path) -> None:
    """The tracked files of the checkout (as they are on disk) into ``dest``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def session_paths(work: Path, module: str) -> tuple[Path, Path, Path]:
    stem = module.replace("/", "_").removesuffix(".py")
    return work / f"{stem}.toml", work / f"{stem}.sqlite", work / f"{stem}.hash"


def write_config(path: Path, module: str, tests: list[str], timeout: float) -> None:
    # --ff with a cache per session: the tests that killed earlier mutants run first (mutants
    # near each other are mostly killed by the same test), so -x stops after seconds instead of
    # after every slow `beet` test before it. A survivor still runs every test.
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "--ff",
        "-o",
        f"cache_dir={path.with_suffix('.pytest-cache')}",
        *tests,
    ]
    # JSON strings are valid TOML basic strings (the -k expressions hold quotes and spaces).
    path.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\n"
        f"timeout = {timeout:.0f}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(shlex.join(command))}\n"
        "[cosmic-ray.distributor]\n"
        'name = "local"\n'
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n",
        "utf-8",
    )


def sample_pending(session: Path, keep: int) -> None:
    """Mark all but ``keep`` randomly chosen pending mutants as skipped (fixed seed)."""
    with sqlite3.connect(session) as conn:
        pending = [
            job
            for (job,) in conn.execute(
                "SELECT job_id FROM work_items WHERE job_id NOT IN "
                "(SELECT job_id FROM work_results) ORDER BY job_id"
            )
        ]
        left_out = random.Random(0).sample(pending, max(0, len(pending) - keep))
        conn.executemany(
            "INSERT INTO work_results(worker_outcome, output, job_id) "
            "VALUES ('SKIPPED', 'not in the sample', ?)",
            [(job,) for job in left_out],
        )
    conn.close()


def extend_sample(session: Path, more: int) -> None:
    """Draw ``more`` mutants from those left out of the sample: a fresh batch measures tests
    written after reviewing the earlier batches without the bias of having targeted them."""
    with sqlite3.connect(session) as conn:
        conn.execute(BATCHES_TABLE)
        left_out = [
            job
            for (job,) in conn.execute(
                "SELECT job_id FROM work_results WHERE output = 'not in the sample' ORDER BY job_id"
            )
        ]
        batch = 1 + conn.execute("SELECT count(DISTINCT batch) FROM sample_batches").fetchone()[0]
        drawn = random.Random(batch).sample(left_out, min(more, len(left_out)))
        conn.executemany("DELETE FROM work_results WHERE job_id = ?", [(j,) for j in drawn])
        conn.executemany(
            "INSERT INTO sample_batches VALUES (?, ?)", [(job, batch) for job in drawn]
        )
    conn.close()


def _descendants(pid: int) -> list[int]:
    # cosmic-ray starts each test command in its own session: killing its group misses them.
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def run_module(
    work: Path,
    tree: Path,
    module: str,
    budget: float,
    retry: bool,
    sample: int | None,
    more: int | None,
) -> None:
    config, session, stamp = session_paths(work, module)
    if retry and session.exists():
        with sqlite3.connect(session) as conn:
            conn.execute("DELETE FROM work_results WHERE upper(test_outcome) = 'SURVIVED'")
        conn.close()
    digest = hashlib.sha256((ROOT / module).read_bytes()).hexdigest()
    tests = TARGETS[module]
    if not session.exists() or stamp.read_text() != digest:
        # Baseline: the tests must pass unmutated; its time sets the per-mutant timeout.
        started = time.monotonic()
        base = subprocess.run(
            ["nice", "-n", "15", sys.executable, "-m", "pytest", "-x", "-q", *tests],
            cwd=tree,
            capture_output=True,
            text=True,
            check=False,
        )
        if base.returncode != 0:
            raise SystemExit(f"{module}: the tests fail unmutated:\n{base.stdout[-3000:]}")
        write_config(config, module, tests, timeout=max(60.0, 3 * (time.monotonic() - started)))
        session.unlink(missing_ok=True)
        subprocess.run(
            [tool("cosmic-ray"), "init", str(config), str(session)], cwd=tree, check=True
        )
        subprocess.run(
            [tool("cr-filter-operators"), str(session), str(config)], cwd=tree, check=True
        )
        if sample is not None:
            sample_pending(session, sample)
        stamp.write_text(digest)
    else:
        # The tests may have changed since: the session keeps its mutants, the command is new.
        from cosmic_ray.config import load_config

        write_config(config, module, tests, timeout=load_config(str(config)).timeout)
        if more:
            extend_sample(session, more)
    proc = subprocess.Popen(
        ["nice", "-n", "15", tool("cosmic-ray"), "exec", str(config), str(session)],
        cwd=tree,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        groups = {
            os.getpgid(pid) for pid in _descendants(proc.pid) if Path(f"/proc/{pid}").exists()
        }
        for group in groups | {proc.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGTERM)
        proc.wait()
        print(f"{module}: time budget of {budget:.0f} s used up; the next run resumes")
    finally:
        # A mutant interrupted mid-test may still be on disk in the copy.
        shutil.copy2(ROOT / module, tree / module)


def score(work: Path, module: str) -> Score | None:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    _, session, _ = session_paths(work, module)
    if not session.exists():
        return None
    killed = survived = incompetent = sampled_out = 0
    survivors = []
    with sqlite3.connect(session) as conn:
        conn.execute(BATCHES_TABLE)
        batch_of = dict(conn.execute("SELECT job_id, batch FROM sample_batches"))
    conn.close()
    batches: dict[int, tuple[int, int]] = {}
    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = sum(1 for _ in db.pending_work_items)
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                sampled_out += result.output == "not in the sample"
                continue
            if result.test_outcome == TestOutcome.KILLED:
                killed += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                survived += 1
                survivors.append(f"# job {item.job_id}\n{result.diff}")
            else:
                incompetent += 1
                continue
            if item.job_id in batch_of:
                k, s = batches.get(batch_of[item.job_id], (0, 0))
                kill = result.test_outcome == TestOutcome.KILLED
                batches[batch_of[item.job_id]] = (k + kill, s + (not kill))
    session.with_suffix(".survivors.diff").write_text("\n".join(survivors), "utf-8")
    return Score(module, killed, survived, incompetent, pending, sampled_out, batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="target paths or file names (default: all)")
    parser.add_argument("--budget", type=float, default=1200, help="seconds per module")
    parser.add_argument("--work", type=Path, default=ROOT / ".mutation")
    parser.add_argument("--report", action="store_true", help="print the scores, run nothing")
    parser.add_argument(
        "--sample",
        type=int,
        default=None,
        metavar="N",
        help="new sessions: try N randomly chosen mutants (an estimate for big modules)",
    )
    parser.add_argument(
        "--more",
        type=int,
        default=None,
        metavar="N",
        help="sampled sessions: try N more mutants drawn from those left out (a fresh batch)",
    )
    parser.add_argument(
        "--retry-survivors", action="store_true", help="try the surviving mutants again"
    )
    args = parser.parse_args()
    chosen = [
        m for m in TARGETS if not args.modules or any(m.endswith(f"/{a}") for a in args.modules)
    ]
    if not chosen:
        parser.error(f"no target matches {args.modules}; targets: {', '.join(TARGETS)}")
    ensure_cosmic_ray()
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.report:
        tree = args.work / "tree"
        copy_tree(tree)
        for module in chosen:
            run_module(
                args.work.resolve(),
                tree,
                module,
                args.budget,
                args.retry_survivors,
                args.sample,
                args.more,
            )
    for module in chosen:
        result = score(args.work, module)
        print(result.line() if result else f"{module}: not run yet")
    print(f"surviving mutants (diffs): {args.work}/*.survivors.diff")


if __name__ == "__main__":
    main()

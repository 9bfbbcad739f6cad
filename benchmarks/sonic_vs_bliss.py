"""Our sonic extractor vs bliss-rs (PyPI `bliss-audio`) on the same files, one core each.

    .venv/bin/pip install bliss-audio    # benchmark-only peer, not a project dependency
    .venv/bin/python benchmarks/sonic_vs_bliss.py [--limit N]     # per file, in this process
    .venv/bin/python benchmarks/sonic_vs_bliss.py --command       # whole `beet sonicanalysis`
    .venv/bin/python benchmarks/sonic_vs_bliss.py --command --rounds 2 --baseline-src OLD
        # also the same command on older code (OLD: `git archive <commit> beetsplug | tar -x`)
    .venv/bin/python benchmarks/sonic_vs_bliss.py --reference     # vs the reference extractor
    .venv/bin/python benchmarks/sonic_vs_bliss.py --save-baseline base.npz  # at the old commit
    .venv/bin/python benchmarks/sonic_vs_bliss.py --check base.npz  # same meaning as the old?

Files: the corpora's music/drascula (OGG Vorbis 44.1 kHz stereo) and audio/ (asc MP3, moh WAV)
when fetched, plus generated 48 kHz stereo FLAC/MP3 songs. Everything runs pinned to CPU 0
(both sides, same process or same pinning), files interleaved: ours then bliss's per file.
Prints ms of CPU time per second of audio for both and the ratio (ours / bliss; lower is
better): CPU time, because on a shared machine wall time mostly measures the neighbours.
bliss raises pyo3's PanicException (a BaseException) on files it cannot decode: caught per file.

--check compares our vectors (full and segments) with a baseline saved by --save-baseline at
another commit, per tower by cosine: median ≥ 0.99 and min ≥ 0.95 are the bounds for a change
that keeps what the vectors mean.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from beetsplug._dspipeline.sonic import extract, layout
from beetsplug._dspipeline.sonic.decode import decode
from tests import audio_fixtures as fx

if TYPE_CHECKING:
    from devtools.beets_env import BeetsEnv

CORPORA = Path(os.environ.get("DSP_CORPORA", Path.home() / ".cache/dspipeline-corpora"))
SEGMENTS = ("full", "start", "mid", "end")


def pick_files(workdir: Path, limit: int | None) -> list[Path]:
    found = sorted(
        (CORPORA / "music" / "drascula").glob("*.ogg"), key=lambda p: int(p.stem[5:] or 0)
    )
    found += sorted((CORPORA / "audio" / "asc").glob("*.mp3"))
    found += sorted((CORPORA / "audio" / "moh").glob("*.wav"))
    generated = [
        fx.write(
            workdir / f"generated-48k-{i}.{ext}",
            fx.stereo(fx.song(150.0, bpm=96.0 + 11 * i, sr=48000, seed=i)),
            sr=48000,
        )
        for i, ext in enumerate(("flac", "mp3"))  # libsndfile crashes on long 48 kHz Vorbis
    ]
    files = found[:limit] if limit else found
    return [*files, *generated]


def bliss_analysis(path: Path) -> tuple[float, str | None]:
    """Seconds bliss-rs takes for `path` (decode + analysis) and its error, if any."""
    from bliss_audio import Song

    started = time.process_time()
    try:
        Song(str(path)).analysis  # noqa: B018 (the analysis runs on attribute access)
    except BaseException as exc:  # pyo3 PanicException is a BaseException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return time.process_time() - started, f"{type(exc).__name__}: {exc}".splitlines()[0]
    return time.process_time() - started, None


def per_file(files: list[Path]) -> None:
    from bliss_audio import Song

    # Warm both sides outside the timings (imports, numba cache, FFmpeg init).
    extract.warm_up()
    Song(str(files[-1])).analysis  # noqa: B018
    header = f"{'file':28s} {'audio s':>8s} {'decode':>7s} {'ours':>7s} {'bliss':>7s} {'ratio':>6s}"
    print(header + "   (ms of CPU per second of audio; ratio = ours / bliss)")
    audio = decode_s = ours_s = bliss_s = 0.0
    failures = []
    for path in files:
        started = time.process_time()
        decoded = decode(path)
        decode_t = time.process_time() - started
        started = time.process_time()
        extract.analyse_file(path)
        ours_t = time.process_time() - started
        bliss_t, error = bliss_analysis(path)
        seconds = decoded.duration
        if error:
            failures.append(f"{path.name}: bliss failed ({error})")
            print(f"{path.name:28s} {seconds:8.1f} ours {1000 * ours_t / seconds:.2f}, {error}")
            continue
        audio += seconds
        decode_s, ours_s, bliss_s = decode_s + decode_t, ours_s + ours_t, bliss_s + bliss_t
        print(
            f"{path.name:28s} {seconds:8.1f} {1000 * decode_t / seconds:7.2f} "
            f"{1000 * ours_t / seconds:7.2f} {1000 * bliss_t / seconds:7.2f} "
            f"{ours_t / bliss_t:6.2f}"
        )
    print(
        f"{'ALL':28s} {audio:8.1f} {1000 * decode_s / audio:7.2f} {1000 * ours_s / audio:7.2f} "
        f"{1000 * bliss_s / audio:7.2f} {ours_s / bliss_s:6.2f}"
    )
    print(
        f"ours after decoding: {1000 * (ours_s - decode_s) / audio:.2f} ms/s "
        f"(decode measured separately, so ours = decode + features)"
    )
    for line in failures:
        print(line)


BLISS_SCRIPT = """
import sys
from bliss_audio import Song
failed = 0
for path in sys.argv[1:]:
    try:
        Song(path).analysis
    except BaseException:
        failed += 1
print(f"bliss failed on {failed} files")
"""


def beets_library(files: list[Path], workdir: Path) -> BeetsEnv:
    """A beets library in `workdir` holding `files` as singletons (symlinked, not copied)."""
    from devtools.beets_env import BeetsEnv

    env = BeetsEnv(
        workdir / "beets",
        plugins=("sonicanalysis",),
        settings={
            "import": {
                "copy": False,
                "write": False,
                "quiet": True,
                "autotag": False,
                "singletons": True,
                "duplicate_action": "keep",  # untagged files all look alike to beets
                "log": str(workdir / "import.log"),
            }
        },
    )
    inbox = workdir / "inbox"
    inbox.mkdir()
    for i, path in enumerate(files):
        (inbox / f"{i:03d}{path.suffix}").symlink_to(path)
    env.run("import", str(inbox))
    imported = len(env.run("ls", "-p").stdout.splitlines())
    if imported != len(files):
        raise SystemExit(f"imported {imported} of {len(files)} files")
    return env


REFERENCE_SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.sonic_reference import reference_file
for path in sys.argv[2:]:
    reference_file(path)
"""
# The "3 real recordings" (1,054 s): the corpus's asc MP3s.
REFERENCE_FILES = ("frontiers.mp3", "machine_wars.mp3", "time_to_strike.mp3")


def whole_command(
    files: list[Path], workdir: Path, rounds: int, baseline_src: Path | None, reference: bool
) -> None:
    """CPU and wall time of `beet sonicanalysis -j 1 --force` against a fresh process of the
    peer (bliss-rs, or with `reference` the reference extractor: librosa.load + one librosa
    call per feature), same files, all pinned to CPU 0. With `baseline_src`, the same command
    also runs on the code in that directory (e.g. `git archive` of an older commit), so old and
    new are measured side by side. Commands alternate for `rounds` rounds; each row reports
    its least CPU time (the neighbours on a shared machine only ever add to it)."""
    env = beets_library(files, workdir)
    audio = sum(decode(p).duration for p in files)
    pin = ["taskset", "-c", "0"]
    ours = [*pin, *env.command("sonicanalysis", "-j", "1", "--force")]
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "beet sonicanalysis -j 1": (ours, env.process_env()),
    }
    if baseline_src is not None:
        old_env = env.process_env({"PYTHONPATH": str(baseline_src.resolve())})
        commands[f"same, code of {baseline_src.name}"] = (ours, old_env)
    if reference:
        root = str(Path(__file__).resolve().parents[1])
        peer = "reference extractor (librosa.load + features)"
        argv = [*pin, sys.executable, "-c", REFERENCE_SCRIPT, root, *map(str, files)]
    else:
        peer = "bliss-rs (python + bliss_audio)"
        argv = [*pin, sys.executable, "-c", BLISS_SCRIPT, *map(str, files)]
    commands[peer] = (argv, env.process_env())
    timings: dict[str, tuple[float, float]] = {}
    for round_ in range(rounds):
        for name, (argv, process_env) in commands.items():
            cpu_before = _children_cpu()
            started = time.perf_counter()
            proc = subprocess.run(
                argv, capture_output=True, text=True, env=process_env, check=False, cwd=workdir
            )
            wall = time.perf_counter() - started
            cpu = _children_cpu() - cpu_before
            best = timings.get(name, (cpu, wall))
            timings[name] = (min(cpu, best[0]), min(wall, best[1]))
            last = (proc.stdout.strip().splitlines() or [""])[-1]
            print(
                f"[{round_ + 1}] {name:46s} CPU {cpu:6.1f} s ({1000 * cpu / audio:5.2f} ms/s), "
                f"wall {wall:6.1f} s; exit {proc.returncode}: {last}"
            )
    peer_cpu, peer_wall = timings[peer]
    print(f"{len(files)} files, {audio:.0f} s of audio; least of {rounds} round(s):")
    for name, (cpu, wall) in timings.items():
        print(
            f"  {name:46s} {1000 * cpu / audio:5.2f} ms CPU/s   ours / peer "
            f"{cpu / peer_cpu:5.2f} (CPU) {wall / peer_wall:5.2f} (wall); peer / ours "
            f"{peer_cpu / cpu:5.2f} (CPU) {peer_wall / wall:5.2f} (wall)"
        )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def vectors(files: list[Path]) -> dict[str, np.ndarray]:
    out = {}
    for path in files:
        feats = extract.analyse_file(path)
        out[path.name] = np.stack([getattr(feats, s) for s in SEGMENTS])
    return out


def check(files: list[Path], baseline_path: Path) -> bool:
    baseline = np.load(baseline_path)
    current = vectors([p for p in files if p.name in baseline.files])
    ok = True
    print(f"per-tower cosine vs {baseline_path.name}, {len(current)} files x {len(SEGMENTS)}")
    for tower, cols in layout.TOWERS.items():
        cosines = []
        worst = ("", 1.0)
        # Largest change of any dim, relative to that dim's spread across the baseline files.
        ref = np.concatenate([baseline[name][:, cols] for name in current]).astype(np.float64)
        spread = np.maximum(ref.std(axis=0), 1e-12)
        max_diff = max_scaled = 0.0
        for name, now in current.items():
            a, b = now[:, cols].astype(np.float64), baseline[name][:, cols].astype(np.float64)
            max_diff = max(max_diff, float(np.max(np.abs(a - b))))
            max_scaled = max(max_scaled, float(np.max(np.abs(a - b) / spread)))
            norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
            cos = np.sum(a * b, axis=1) / np.where(norms > 0, norms, 1.0)
            cosines.extend(cos)
            if cos.min() < worst[1]:
                worst = (name, float(cos.min()))
        median, low = float(np.median(cosines)), float(np.min(cosines))
        good = median >= 0.99 and low >= 0.95
        ok &= good
        print(
            f"  {tower:8s} median {median:.5f}  min {low:.5f} ({worst[0]})  "
            f"max |diff| {max_diff:.3g} ({max_scaled:.3g} of the dim's spread)  "
            f"{'ok' if good else 'FAILS (median >= 0.99, min >= 0.95)'}"
        )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="corpus files to use (all)")
    parser.add_argument("--command", action="store_true", help="time the whole beet command")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="whole command against the reference extractor on the 3 asc recordings",
    )
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds (--command)")
    parser.add_argument(
        "--baseline-src", type=Path, help="also time the command on the code in this directory"
    )
    parser.add_argument("--save-baseline", type=Path, metavar="NPZ")
    parser.add_argument("--check", type=Path, metavar="NPZ")
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})  # one core for both sides (children inherit it)
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        files = pick_files(Path(tmp), args.limit)
        if args.save_baseline:
            np.savez(args.save_baseline, **vectors(files))
            print(f"saved {len(files)} files' vectors to {args.save_baseline}")
        elif args.check:
            sys.exit(0 if check(files, args.check) else 1)
        elif args.reference:
            chosen = [CORPORA / "audio" / "asc" / name for name in REFERENCE_FILES]
            if not all(p.exists() for p in chosen):
                raise SystemExit(f"--reference needs the corpus's asc recordings in {CORPORA}")
            whole_command(chosen, Path(tmp), args.rounds, args.baseline_src, reference=True)
        elif args.command:
            whole_command(files, Path(tmp), args.rounds, args.baseline_src, reference=False)
        else:
            per_file(files)


if __name__ == "__main__":
    main()

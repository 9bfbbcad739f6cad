"""How far the `bpm` our extractor stores can be trusted, against ground truth.

    .venv/bin/python benchmarks/sonic_tempo.py [--reference]

1. Rendered scores of exact tempo: drum patterns (straight, half-time, syncopated, swung,
   shuffle in 12/8, waltz), bass and chords, rendered with numpy at 60-180 BPM. Accuracy 1:
   within 4 % of the true tempo; accuracy 2: within 4 % of the tempo, its half or its double
   (an "octave" error); 3:2 / 2:3 errors are counted apart.
2. The corpora's sonic-pi loops of known period (../shared/data/loop-periods.json), tiled to
   20 s (the corpus holds a copy of that file): a right beat period p fits a loop of
   duration d a whole number of times (d/p within 4 % of an integer), which is all a loop's
   period says.
3. Real recordings (music/drascula, audio/asc, audio/moh): ours against librosa's own
   `beat_track` on the whole signal (the reference system's tracker), to find disagreements
   such as 3:2.
`--reference` also runs librosa's `beat_track` on 1 and 2, for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beetsplug._dspipeline.sonic.decode import decode
from beetsplug._dspipeline.sonic.extract import analyse_signal

SR = 22050
CORPORA = Path(os.environ.get("DSP_CORPORA", Path.home() / ".cache/dspipeline-corpora"))
LOOPS = CORPORA / "audio" / "loop-periods.json"  # = ../shared/data/loop-periods.json
TOLERANCE = 0.04

# Patterns on a 16th-note grid of one 4/4 bar (12 steps of a 12/8 bar for "shuffle" and
# one 3/4 bar of 12 steps for "waltz"): which steps sound a kick, snare, hat.
KINDS = ("kick", "snare", "hat")
PATTERNS: dict[str, tuple[str, str, str]] = {
    "straight": ("x...x...x...x...", "....x.......x...", "x.x.x.x.x.x.x.x."),
    "half-time": ("x.........x.....", "........x.......", "x.x.x.x.x.x.x.x."),
    "syncopated": ("x..x..x...x..x..", "....x.......x..x", "xxxxxxxxxxxxxxxx"),
    "swung": ("x.......x.......", "....x.......x...", "x..xx..xx..xx..x"),
    "shuffle-12/8": ("x.....x.....", "...x.....x..", "x.xx.xx.xx.x"),
    "waltz-3/4": ("x...........", "....x...x...", "x.x.x.x.x.x."),
}
STEPS_PER_BEAT = {"shuffle-12/8": 3, "waltz-3/4": 4}  # default 4 (16ths)
TEMPI = (60.0, 72.0, 84.0, 96.0, 108.0, 120.0, 132.0, 144.0, 160.0, 180.0)


def _hit(kind: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.25 * SR)) / SR
    if kind == "kick":  # a falling sine
        return np.sin(2 * np.pi * (50 + 80 * np.exp(-t / 0.03)) * t) * np.exp(-t / 0.12)
    if kind == "snare":  # noise + a body
        noise = rng.standard_normal(len(t))
        return 0.6 * (noise + np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.06)
    return 0.25 * rng.standard_normal(len(t)) * np.exp(-t / 0.015)  # hat


def render(style: str, bpm: float, seconds: float = 30.0, seed: int = 0) -> np.ndarray:
    """A drum pattern plus a bass note per beat and a chord per bar, at exactly `bpm`."""
    rng = np.random.default_rng(seed)
    pattern = dict(zip(KINDS, PATTERNS[style], strict=True))
    steps = len(pattern["kick"])
    per_beat = STEPS_PER_BEAT.get(style, 4)
    step_s = 60.0 / bpm / per_beat
    n = int(seconds * SR)
    out = np.zeros(n + SR)
    hits = {kind: _hit(kind, rng) for kind in pattern}
    t_note = np.arange(int(60.0 / bpm * SR)) / SR
    roots = (45, 41, 43, 40)  # A, F, G, E (MIDI)
    for i in range(int(seconds / step_s)):
        start = round(i * step_s * SR)
        step = i % steps
        if style == "swung" and i % 2 == 1:
            start += round(step_s * SR / 3)  # late off-beats
        for kind, line in pattern.items():
            if line[step] == "x":
                out[start : start + len(hits[kind])] += hits[kind]
        if i % per_beat == 0:  # bass note on every beat
            bar = i // steps
            f0 = 440.0 * 2 ** ((roots[bar % 4] - 69) / 12)
            note = np.sin(2 * np.pi * f0 * t_note) * np.exp(-t_note / 0.3)
            out[start : start + len(note)] += 0.5 * note
    out = out[:n]
    return (0.8 * out / np.max(np.abs(out))).astype(np.float32)


def _ratio_class(found: float, truth: float) -> str:
    for name, factor in (("right", 1.0), ("half", 0.5), ("double", 2.0), ("2:3", 2 / 3),
                         ("3:2", 1.5), ("third", 1 / 3), ("triple", 3.0)):  # fmt: skip
        if abs(found - truth * factor) <= TOLERANCE * truth * factor:
            return name
    return "other"


def rendered(reference: bool) -> None:
    import librosa

    results: dict[str, list[str]] = {"ours": [], "librosa": []}
    print("rendered scores: true BPM -> ours (librosa beat_track)")
    for style in PATTERNS:
        row = []
        for bpm in TEMPI:
            y = render(style, bpm)
            ours = analyse_signal(y, SR).bpm
            results["ours"].append(_ratio_class(ours, bpm))
            cell = f"{bpm:.0f}:{ours:.1f}"
            if reference:
                ref = float(np.asarray(librosa.beat.beat_track(y=y, sr=SR)[0]).item())
                results["librosa"].append(_ratio_class(ref, bpm))
                cell += f"({ref:.0f})"
            row.append(cell)
        print(f"  {style:13s} " + " ".join(row))
    for name, classes in results.items():
        if classes:
            _summary(name, classes)


def _summary(name: str, classes: list[str]) -> None:
    n = len(classes)
    acc1 = classes.count("right") / n
    acc2 = sum(c in ("right", "half", "double") for c in classes) / n
    counts = {c: classes.count(c) for c in sorted(set(classes)) if c != "right"}
    print(f"  {name}: {n} renders, accuracy 1 {acc1:.0%}, accuracy 2 {acc2:.0%}; misses {counts}")


def loops(reference: bool) -> None:
    import librosa
    import soundfile as sf

    periods = json.loads(LOOPS.read_text())["loops"]
    folder = CORPORA / "audio" / "sonic-pi"
    if not folder.exists():
        print(f"loops: no corpus at {folder}")
        return
    fits = {"ours": 0, "librosa": 0}
    print("loops (tiled to 20 s): name, period s, ours BPM, beats per loop")
    for name, info in sorted(periods.items()):
        period = float(info["duration_s"])
        samples, sr = sf.read(folder / name, dtype="float32", always_2d=True)
        y = np.tile(samples.mean(axis=1), int(np.ceil(20.0 / period)))
        found = {"ours": analyse_signal(y, sr).bpm}
        if reference:
            y22 = librosa.resample(y, orig_sr=sr, target_sr=SR)
            found["librosa"] = float(np.asarray(librosa.beat.beat_track(y=y22, sr=SR)[0]).item())
        cells = []
        for who, bpm in found.items():
            per_loop = period * bpm / 60.0
            ok = bpm > 0 and abs(per_loop - round(per_loop)) <= TOLERANCE * max(round(per_loop), 1)
            fits[who] += ok
            cells.append(f"{who} {bpm:6.1f} ({per_loop:5.2f}{'' if ok else ' MISS'})")
        print(f"  {name:24s} {period:6.3f}  " + "  ".join(cells))
    for who in found:
        print(f"  {who}: {fits[who]}/{len(periods)} loops fit a whole number of beats (±4 %)")


def recordings() -> None:
    import librosa

    files = sorted((CORPORA / "music" / "drascula").glob("*.ogg"))
    files += sorted((CORPORA / "audio" / "asc").glob("*.mp3"))
    files += sorted((CORPORA / "audio" / "moh").glob("*.wav"))
    if not files:
        print("recordings: no corpus")
        return
    print("recordings: ours vs librosa beat_track on the whole signal")
    classes = []
    for path in files:
        audio = decode(path)
        ours = analyse_signal(audio.y, SR).bpm
        ref = float(np.asarray(librosa.beat.beat_track(y=audio.y, sr=SR)[0]).item())
        relation = _ratio_class(ours, ref)
        classes.append(relation)
        if relation != "right":
            print(f"  {path.name:32s} ours {ours:6.1f}  librosa {ref:6.1f}  ({relation})")
    agree = classes.count("right")
    print(f"  agree within 4 % on {agree}/{len(files)}; others: "
          f"{ {c: classes.count(c) for c in set(classes) if c != 'right'} }")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="also run librosa beat_track")
    args = parser.parse_args()
    rendered(args.reference)
    loops(args.reference)
    recordings()


if __name__ == "__main__":
    main()

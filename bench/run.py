"""`make bench`: how the preview and the policy pack scale, against Pulumi's own floor.

For each size (about 1k, 4k and 16k registered resources) it measures, each in a process of its
own (`bench/measure.py`):

- our program under `preflight preview` without policies (`program`);
- the floor: `bench/floor_program`, registering the same number of resources (one zone and its
  `cloudflare.DnsRecord`s) under the same preflight mocks (`floor`);
- the settled floor: the same program also waiting for its registrations in one gather before the
  SDK's own wait, as our program does (`settled`): the best a bare program does;
- the whole `preflight preview --policy-pack policies` (`whole`);
- Day 2: a preview of the same stack against its own checkpoint (`--state`, written once per size by a
  `--state-out` run, the simulated up), against the stateless preview (`program`) measured beside it:
  the goal is at most 1.1x, and the peak memory of both;

and reports seconds, ratios to the floor, the pack's CPU seconds and per-resource cost, peak
RSS of the preflight and pack processes, and the log-log slope of each figure across the sizes.
Then the render micro-benchmark (`bench/render.py`). Writes `bench/results.json` and the table
in `bench/README.md`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import render
from bench.generate import StackSize
from bench.projects import REPO, STACK, floor_project, our_project

BENCH_DIR = Path(__file__).resolve().parent
SIZES = [
    StackSize(zones=25, records_per_zone=35, hosts=8, pools=1),
    StackSize(zones=100, records_per_zone=35, hosts=16, pools=2),
    StackSize(zones=400, records_per_zone=35, hosts=32, pools=4),
]
# Repetitions per size (the median is kept): this machine's speed drifts by 10% from one minute to
# the next, enough to move a ratio across its goal, so the largest size is repeated too.
REPEATS = [3, 3, 3]
README_BEGIN = "<!-- bench:results:begin -->"
README_END = "<!-- bench:results:end -->"


def measure(out_dir: Path, label: str, project: Path, *, packs: bool, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    result_file = out_dir / f"{label}.json"
    arguments = ["preview", "--stack", STACK, "--cwd", str(project), "--build-dir", str(out_dir / "build"), *extra]
    if packs:
        arguments += ["--policy-pack", str(REPO / "policies")]
    with open(out_dir / f"{label}.log", "w") as log:
        subprocess.run([sys.executable, "-m", "bench.measure", str(result_file), "--", *arguments],
                       cwd=REPO, stdout=log, stderr=subprocess.STDOUT, check=True)
    result = json.loads(result_file.read_text())
    if result["exitCode"] != 0:
        raise SystemExit(f"{label}: preflight exited with {result['exitCode']}; see {out_dir / (label + '.log')}")
    return result


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [run[key] for run in runs if run.get(key) is not None]
    return statistics.median(values) if values else None


def measure_size(work: Path, size: StackSize, repeats: int) -> dict[str, Any]:
    ours = our_project(work / f"program-{size.label}", size)
    # The checkpoint an up of this stack leaves: what the Day 2 preview runs against.
    state = work / f"state-{size.label}.json"
    state_out = measure(work, f"{size.label}-state-out", ours, packs=False, extra=("--state-out", str(state)))
    programs, floors, settled_floors, wholes, stated = [], [], [], [], []
    for attempt in range(repeats):
        # Interleaved, so a change in the machine's load touches all of them alike.
        programs.append(measure(work, f"{size.label}-program-{attempt}", ours, packs=False))
        stated.append(measure(work, f"{size.label}-state-{attempt}", ours, packs=False, extra=("--state", str(state))))
        floor = floor_project(work / f"floor-{size.label}", programs[-1]["registered"])
        floors.append(measure(work, f"{size.label}-floor-{attempt}", floor, packs=False))
        settled = floor_project(work / f"settled-{size.label}", programs[-1]["registered"], settled=True)
        settled_floors.append(measure(work, f"{size.label}-settled-{attempt}", settled, packs=False))
        wholes.append(measure(work, f"{size.label}-whole-{attempt}", ours, packs=True))
    registered = programs[0]["registered"]
    floor_seconds = median_of(floors, "seconds")
    program_seconds = median_of(programs, "seconds")
    whole_seconds = median_of(wholes, "seconds")
    settled_seconds = median_of(settled_floors, "seconds")
    pack_cpu = median_of(wholes, "packCpuSeconds")
    state_seconds = median_of(stated, "seconds")
    return {
        "size": asdict(size),
        "label": size.label,
        "registered": registered,
        "floorRegistered": floors[0]["registered"],
        "repeats": repeats,
        "floorSeconds": floor_seconds,
        "programSeconds": program_seconds,
        "programRatio": program_seconds / floor_seconds,
        "wholeSeconds": whole_seconds,
        "wholeRatio": whole_seconds / floor_seconds,
        # Each attempt's whole preview over the floor measured next to it: the spread of the ratio.
        "wholeRatioRange": [min(paired), max(paired)] if (paired := [w["seconds"] / f["seconds"] for w, f in
                                                                     zip(wholes, floors, strict=True)]) else None,
        "settledFloorSeconds": settled_seconds,
        "wholeRatioToSettled": whole_seconds / settled_seconds,
        "packAddedSeconds": whole_seconds - program_seconds,
        "packCpuSeconds": pack_cpu,
        "packMsPerResource": 1000 * pack_cpu / registered if pack_cpu is not None else None,
        # Day 2: the preview against the stack's checkpoint, over the stateless preview measured beside it.
        "stateOutSeconds": state_out["seconds"],
        "stateBytes": state.stat().st_size,
        "stateSeconds": state_seconds,
        "stateRatio": state_seconds / program_seconds,
        "stateRatioRange": [min(paired), max(paired)] if (paired := [s["seconds"] / p["seconds"] for s, p in
                                                                     zip(stated, programs, strict=True)]) else None,
        "stateRssMb": median_of(stated, "rssMb"),
        # Every run's seconds, so the spread behind each median can be seen.
        "runs": {"floor": [r["seconds"] for r in floors], "settledFloor": [r["seconds"] for r in settled_floors],
                 "program": [r["seconds"] for r in programs], "whole": [r["seconds"] for r in wholes],
                 "state": [r["seconds"] for r in stated]},
        "floorRssMb": median_of(floors, "rssMb"),
        "programRssMb": median_of(programs, "rssMb"),
        "wholeRssMb": median_of(wholes, "rssMb"),
        "packRssMb": median_of(wholes, "packRssMb"),
        "loadAverage": os.getloadavg(),
    }


SLOPE_FIGURES = ["floorSeconds", "settledFloorSeconds", "programSeconds", "wholeSeconds", "packCpuSeconds",
                 "floorRssMb", "programRssMb", "wholeRssMb", "packRssMb", "stateSeconds", "stateRssMb"]


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) over log(x): 1 is linear, 2 quadratic."""
    points = [(x, y) for x, y in points if x and y]
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sum((x - mean_x) ** 2 for x in xs)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError, StopIteration):
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    memory_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memoryGb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def table(results: dict[str, Any]) -> str:
    rows = [
        "| registered | floor s | program s | ×floor | whole preview s | ×floor | ×floor per run | settled floor s "
        "| whole ×settled | pack CPU s | pack ms/res | preflight RSS MB | pack RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results["sizes"]:
        rows.append(
            f"| {r['registered']:,} | {r['floorSeconds']:.1f} | {r['programSeconds']:.1f} | {r['programRatio']:.2f} "
            f"| {r['wholeSeconds']:.1f} | {r['wholeRatio']:.2f} | {r['wholeRatioRange'][0]:.2f}-"
            f"{r['wholeRatioRange'][1]:.2f} | {r['settledFloorSeconds']:.1f} | {r['wholeRatioToSettled']:.2f} "
            f"| {r['packCpuSeconds']:.1f} "
            f"| {r['packMsPerResource']:.2f} | {r['wholeRssMb']:.0f} | {r['packRssMb']:.0f} |"
        )
    for label, key in (("slope, all sizes", "slopes"), ("slope, two largest", "slopesLargest")):
        s = {figure: "-" if value is None else f"{value:.2f}" for figure, value in results[key].items()}
        rows.append(
            f"| **{label}** | {s['floorSeconds']} | {s['programSeconds']} | | {s['wholeSeconds']} | | "
            f"| {s['settledFloorSeconds']} | | {s['packCpuSeconds']} | | {s['wholeRssMb']} | {s['packRssMb']} |"
        )
    rows += ["", "| render case | small | ms | large | ms | lines (large) | slope |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results["render"]:
        rows.append(f"| {r['case']} | {r['small']} {r['unit']} | {r['smallSeconds'] * 1000:.1f} | {r['large']} "
                    f"{r['unit']} | {r['largeSeconds'] * 1000:.1f} | {r['largeLines']:,} | {r['slope']:.2f} |")
    rows += ["", "| registered | checkpoint MB | up (--state-out) s | stateless preview s | preview --state s | "
                 "×stateless | ×stateless per run | stateless RSS MB | --state RSS MB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["sizes"]:
        rows.append(f"| {r['registered']:,} | {r['stateBytes'] / 1e6:.1f} | {r['stateOutSeconds']:.1f} "
                    f"| {r['programSeconds']:.1f} | {r['stateSeconds']:.1f} | {r['stateRatio']:.2f} "
                    f"| {r['stateRatioRange'][0]:.2f}-{r['stateRatioRange'][1]:.2f} | {r['programRssMb']:.0f} "
                    f"| {r['stateRssMb']:.0f} |")
    m = results["machine"]
    before, after = (", ".join(f"{x:.2f}" for x in results["loadAverage"][when]) for when in ("before", "after"))
    rows += ["", f"Measured {results['date']} on {m['cpu']}, {m['cores']} cores, {m['memoryGb']} GB, Python "
                 f"{m['python']}, Linux {m['kernel']}; load average {before} before the run, {after} after; "
                 f"{results['elapsedSeconds']:.0f} s in all."]
    return "\n".join(rows)


def write_readme(path: Path, text: str) -> None:
    current = path.read_text() if path.exists() else ""
    block = f"{README_BEGIN}\n{text}\n{README_END}"
    if README_BEGIN in current and README_END in current:
        head, rest = current.split(README_BEGIN, 1)
        current = head + block + rest.split(README_END, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(current)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, default=len(SIZES), help="how many of the sizes to run (default: all)")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions for every size (default: 3, 3, 1)")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results.json")
    parser.add_argument("--readme", type=Path, default=BENCH_DIR / "README.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    load_before = os.getloadavg()
    sizes = []
    with tempfile.TemporaryDirectory(prefix="isp-bench-") as work_dir:
        work = Path(work_dir)
        for index, size in enumerate(SIZES[: args.sizes]):
            repeats = args.repeats or REPEATS[index]
            row = measure_size(work, size, repeats)
            sizes.append(row)
            print(f"{row['registered']:>7,} resources: floor {row['floorSeconds']:.1f} s, program "
                  f"{row['programSeconds']:.1f} s ({row['programRatio']:.2f}x), whole preview "
                  f"{row['wholeSeconds']:.1f} s ({row['wholeRatio']:.2f}x; {row['wholeRatioToSettled']:.2f}x the "
                  f"settled floor, {row['settledFloorSeconds']:.1f} s), pack CPU {row['packCpuSeconds']:.1f} s, "
                  f"RSS preflight {row['wholeRssMb']:.0f} MB / pack {row['packRssMb']:.0f} MB; against its checkpoint "
                  f"{row['stateSeconds']:.1f} s ({row['stateRatio']:.2f}x the stateless preview, RSS "
                  f"{row['stateRssMb']:.0f} MB against {row['programRssMb']:.0f} MB)", flush=True)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "loadAverage": {"before": load_before, "after": os.getloadavg()},
        "sizes": sizes,
        # The fit over all sizes, and between the two largest: fixed costs (imports, starting the
        # pack) flatten the first, so the second is the one a quadratic step would show in.
        "slopes": {figure: slope([(r["registered"], r[figure]) for r in sizes]) for figure in SLOPE_FIGURES},
        "slopesLargest": {figure: slope([(r["registered"], r[figure]) for r in sizes[-2:]])
                          for figure in SLOPE_FIGURES},
        "render": render.run(),
    }
    results["elapsedSeconds"] = time.perf_counter() - started
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    text = table(results)
    write_readme(args.readme, text)
    print()
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

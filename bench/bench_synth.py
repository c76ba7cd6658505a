"""Benchmark: how long this app takes to synthesize, against a one-bucket CDK app.

Both run as `.venv/bin/python app.py` (what `cdk synth` runs) with the same interpreter, the same
environment (the project's node first on PATH, no AWS or CDK variables, a fresh CDK_OUTDIR per
run) and the same aws-cdk-lib, alternating, ROUNDS times each; the medians and their ratio are
printed, for wall time and for CPU time (user + system of the process and its node children,
which other load on the machine disturbs less than wall time).

    .venv/bin/python -m bench.bench_synth              # the comparison (make bench)
    .venv/bin/python -m bench.bench_synth --profile    # plus where this app's synth time goes

Budget: wall-time ratio <= 1.3 ("OVER BUDGET" otherwise; the exit status stays 0).

--profile prints: node's start-up; the phases of one synth in one process (import aws_cdk, import
the stacks, build the construct tree, app.synth()); the slowest imports (`python -X importtime`);
cProfile's view of app.py (how much of it is Python waiting on the jsii kernel); and, from a
`node --cpu-prof` of the jsii kernel, where node spends its CPU during synth.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.toolchain import PROJECT_ROOT, project_path

ROUNDS = 5
MAX_RATIO = 1.3
TIMEOUT_SECONDS = 300
BASELINE_APP = textwrap.dedent(
    """\
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3

    app = cdk.App()
    s3.Bucket(cdk.Stack(app, "Baseline"), "Bucket")
    app.synth()
    """
)
# Variables that would change what the app synthesizes or where it writes.
_DROPPED_PREFIXES = ("AWS_", "CDK_", "JSII_")


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


def python() -> str:
    venv = PROJECT_ROOT / ".venv" / "bin" / "python"
    return str(venv if venv.exists() else Path(sys.executable))


def synth_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default os.environ) without AWS/CDK/jsii settings, with the project's node first."""
    source = os.environ if base is None else base
    env = {name: value for name, value in source.items() if not name.startswith(_DROPPED_PREFIXES)}
    env["PATH"] = project_path(env.get("PATH", ""))
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


def run_app(app_dir: Path, env: Mapping[str, str]) -> Timing:
    """One `python app.py` in `app_dir`, into a fresh CDK_OUTDIR; raises on failure."""
    with tempfile.TemporaryDirectory(prefix="cdk.out.bench-") as outdir:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        completed = subprocess.run(
            [python(), "app.py"], cwd=app_dir, env={**env, "CDK_OUTDIR": outdir},
            capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"`python app.py` in {app_dir} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def write_baseline(directory: Path) -> Path:
    (directory / "app.py").write_text(BASELINE_APP)
    return directory


def compare(rounds: int = ROUNDS) -> dict[str, list[Timing]]:
    """Alternating runs: this app, the baseline, this app, ... (`rounds` each)."""
    env = synth_environment()
    timings: dict[str, list[Timing]] = {"this app": [], "one-bucket app": []}
    with tempfile.TemporaryDirectory(prefix="bench-synth-baseline-") as scratch:
        baseline = write_baseline(Path(scratch))
        for _ in range(rounds):
            timings["this app"].append(run_app(PROJECT_ROOT, env))
            timings["one-bucket app"].append(run_app(baseline, env))
    return timings


def verdict(ratio: float, budget: float = MAX_RATIO) -> str:
    if ratio <= budget:
        return f"ratio {ratio:.2f} <= {budget}: within budget"
    return f"ratio {ratio:.2f} > {budget}: OVER BUDGET"


def report(timings: Mapping[str, Sequence[Timing]]) -> str:
    ours, baseline = timings["this app"], timings["one-bucket app"]
    wall = statistics.median(t.wall for t in ours), statistics.median(t.wall for t in baseline)
    cpu = statistics.median(t.cpu for t in ours), statistics.median(t.cpu for t in baseline)
    lines = [
        f"synth, median of {len(ours)} alternating runs each (`python app.py`, node {node_version()}):",
        f"  {'':16} {'wall s':>8} {'cpu s':>8}   all wall times",
        f"  {'this app':16} {wall[0]:8.2f} {cpu[0]:8.2f}   {' '.join(f'{t.wall:.2f}' for t in ours)}",
        f"  {'one-bucket app':16} {wall[1]:8.2f} {cpu[1]:8.2f}   {' '.join(f'{t.wall:.2f}' for t in baseline)}",
        f"  wall {verdict(wall[0] / wall[1])}; cpu ratio {cpu[0] / cpu[1]:.2f}",
        f"  machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end",
    ]
    return "\n".join(lines)


def node_version() -> str:
    env = synth_environment()
    node = shutil.which("node", path=env["PATH"])
    if not node:
        return "not found"
    return subprocess.run([node, "--version"], capture_output=True, text=True, env=env, check=False).stdout.strip()


# --- profile --------------------------------------------------------------------------------------

# One synth in one process, phase by phase; the app is this project's or the one-bucket app.
PHASES = textwrap.dedent(
    """\
    import json, sys, tempfile, time
    t0 = time.perf_counter()
    import aws_cdk  # starts the jsii kernel (node) and loads aws-cdk-lib's assembly
    t1 = time.perf_counter()
    if sys.argv[1] == "project":
        from app import cli_context
        from stacks.app import build_app  # the construct modules used, cdk-nag, the config
    else:
        from aws_cdk import aws_s3
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as outdir:
        if sys.argv[1] == "project":
            app = build_app(cli_context(), outdir=outdir)
        else:
            app = aws_cdk.App(outdir=outdir)
            aws_s3.Bucket(aws_cdk.Stack(app, "Baseline"), "Bucket")
        t3 = time.perf_counter()
        app.synth()
        t4 = time.perf_counter()
    json.dump({"import aws_cdk (starts the jsii kernel)": t1 - t0, "import the app's modules": t2 - t1,
               "build the construct tree": t3 - t2, "app.synth()": t4 - t3}, sys.stdout)
    """
)
# Where the jsii kernel's CPU goes, by the outermost frame that explains it (first match wins).
KERNEL_AREAS: tuple[tuple[str, str], ...] = (
    ("WasmCompositeEngine", "built-in CloudFormation validation: starting its engine"),
    ("cloudformation-validate", "built-in CloudFormation validation: checking the templates"),
    ("cdk-nag", "cdk-nag rules"),
    ("synthesize", "synthesis: templates, assets, other validation"),
    ("readLine", "kernel waiting for Python (reading the next request)"),
    ("cjs/loader", "loading JavaScript modules (require)"),
    ("(garbage collector)", "garbage collection"),
)
OTHER_KERNEL_WORK = "other kernel work (creating constructs, answering calls)"


def run_checked(command: Sequence[str], *, cwd: Path, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{command[:3]} in {cwd} failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    return completed


def median_runs(command: Sequence[str], *, cwd: Path, env: Mapping[str, str], runs: int = 5) -> float:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        run_checked(command, cwd=cwd, env=env)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def phases(env: Mapping[str, str], which: str, runs: int = 3) -> dict[str, float]:
    """Median seconds of each phase of one synth in one process; `which` is "project" or "baseline"."""
    samples: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(runs):
        completed = run_checked(
            [python(), "-c", PHASES, which], cwd=PROJECT_ROOT, env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
        )
        for name, seconds in json.loads(completed.stdout).items():
            samples[name].append(seconds)
    return {name: statistics.median(values) for name, values in samples.items()}


def slowest_imports(env: Mapping[str, str], top: int = 8) -> list[tuple[str, float]]:
    """The modules app.py's imports spend most time in themselves (`-X importtime` self time), seconds.

    A jsii package's self time includes loading its assembly into the kernel."""
    completed = run_checked([python(), "-X", "importtime", "-c", "import app"], cwd=PROJECT_ROOT, env=env)
    return parse_importtime(completed.stderr, top)


def parse_importtime(stderr: str, top: int) -> list[tuple[str, float]]:
    """`import time: self | cumulative | name` lines -> the `top` modules by self time, in seconds."""
    own: dict[str, float] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            own[match.group(2)] = own.get(match.group(2), 0.0) + int(match.group(1)) / 1e6
    return sorted(own.items(), key=lambda item: -item[1])[:top]


def python_profile(env: Mapping[str, str]) -> tuple[float, float, int]:
    """(total seconds, seconds Python waits on the jsii kernel, kernel round trips) for one app.py."""
    with tempfile.TemporaryDirectory(prefix="bench-synth-prof-") as scratch:
        stats_file = Path(scratch) / "app.prof"
        run_checked(
            [python(), "-m", "cProfile", "-o", str(stats_file), "app.py"], cwd=PROJECT_ROOT,
            env={**env, "CDK_OUTDIR": scratch},
        )
        stats = pstats.Stats(str(stats_file)).stats  # type: ignore[attr-defined]
    total = max(entry[3] for entry in stats.values())
    waiting = sum(
        entry[3] for (file, _line, name), entry in stats.items() if name == "_next_message" and "jsii" in file
    )
    round_trips = sum(entry[1] for (file, _line, name), entry in stats.items() if name == "send" and "jsii" in file)
    return total, waiting, round_trips


def node_profile(env: Mapping[str, str], app_dir: Path) -> dict[str, float]:
    """Milliseconds of the jsii kernel's main thread (`node --cpu-prof`) by area, for one app.py."""
    node = shutil.which("node", path=env["PATH"])
    if node is None:
        return {}
    with tempfile.TemporaryDirectory(prefix="bench-synth-cpuprof-") as scratch:
        wrapper = Path(scratch) / "node"
        wrapper.write_text(f'#!/bin/sh\nexec "{node}" --cpu-prof --cpu-prof-dir="{scratch}" "$@"\n')
        wrapper.chmod(0o755)
        run_checked([python(), "app.py"], cwd=app_dir, env={**env, "JSII_NODE": str(wrapper), "CDK_OUTDIR": scratch})
        profiles = sorted(Path(scratch).glob("*.cpuprofile"), key=lambda path: path.stat().st_size)
        # jsii's launcher starts the kernel as a child process: the largest profile is the kernel's.
        return kernel_areas(json.loads(profiles[-1].read_text())) if profiles else {}


def kernel_areas(profile: Mapping[str, Any]) -> dict[str, float]:
    """A .cpuprofile's sampled time by KERNEL_AREAS, matched on each sample's whole call stack."""
    frames = {node["id"]: node["callFrame"] for node in profile["nodes"]}
    parent = {child: node["id"] for node in profile["nodes"] for child in node.get("children", ())}
    areas: collections.Counter[str] = collections.Counter()
    for sample, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        stack = []
        frame_id: int | None = sample
        while frame_id is not None:
            frame = frames[frame_id]
            stack.append(f"{frame['functionName']} {frame['url']}")
            frame_id = parent.get(frame_id)
        text = "\n".join(stack)
        name = next((label for needle, label in KERNEL_AREAS if needle in text), OTHER_KERNEL_WORK)
        if frames[sample]["functionName"] == "(idle)":
            name = "idle"
        areas[name] += delta / 1000
    return dict(areas.most_common())


def without_validation(rounds: int = 3) -> dict[str, float]:
    """Median wall seconds of both apps with CDK_VALIDATION=false (aws-cdk-lib's built-in check off)."""
    env = {**synth_environment(), "CDK_VALIDATION": "false"}
    samples: dict[str, list[float]] = {"this app": [], "one-bucket app": []}
    with tempfile.TemporaryDirectory(prefix="bench-synth-baseline-") as scratch:
        baseline = write_baseline(Path(scratch))
        for _ in range(rounds):
            samples["this app"].append(run_app(PROJECT_ROOT, env).wall)
            samples["one-bucket app"].append(run_app(baseline, env).wall)
    return {name: statistics.median(values) for name, values in samples.items()}


def profile() -> str:
    env = synth_environment()
    lines = ["", "where this app's synth time goes:"]
    node = shutil.which("node", path=env["PATH"]) or "node"
    node_start = median_runs([node, "-e", "0"], cwd=PROJECT_ROOT, env=env)
    python_start = median_runs([python(), "-c", "pass"], cwd=PROJECT_ROOT, env=env)
    lines.append(f"  start-up, median of 5: node -e 0 ({node_version()}) {node_start:.3f} s, "
                 f"python -c pass {python_start:.3f} s")
    ours, base = phases(env, "project"), phases(env, "baseline")
    lines.append(f"  phases of one synth in one process, median of 3:  {'this app':>9} {'one-bucket':>11}")
    lines += [f"    {name:48} {ours[name]:8.2f} s {base[name]:9.2f} s" for name in ours]
    lines.append("  modules of app.py with the most import time of their own (python -X importtime):")
    lines += [f"    {name:48} {seconds:6.2f} s" for name, seconds in slowest_imports(env)]
    total, waiting, round_trips = python_profile(env)
    lines.append(
        f"  cProfile of app.py: {total:.2f} s, of which {waiting:.2f} s ({waiting / total:.0%}) waiting on the "
        f"jsii kernel, over {round_trips} round trips"
    )
    with tempfile.TemporaryDirectory(prefix="bench-synth-baseline-") as scratch:
        baseline = write_baseline(Path(scratch))
        areas = {"this app": node_profile(env, PROJECT_ROOT), "one-bucket app": node_profile(env, baseline)}
    lines.append(f"  jsii kernel main thread (node --cpu-prof), ms:{'this app':>27} {'one-bucket':>11}")
    for name in areas["this app"]:
        lines.append(f"    {name:64} {areas['this app'][name]:7.0f} {areas['one-bucket app'].get(name, 0.0):11.0f}")
    off = without_validation()
    lines.append(
        f"  with CDK_VALIDATION=false, median of 3 wall: this app {off['this app']:.2f} s, one-bucket app "
        f"{off['one-bucket app']:.2f} s, ratio {off['this app'] / off['one-bucket app']:.2f}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"runs of each app (default {ROUNDS})")
    parser.add_argument("--profile", action="store_true", help="also profile where this app's synth time goes")
    arguments = parser.parse_args(argv)
    print(report(compare(arguments.rounds)), flush=True)
    if arguments.profile:
        print(profile())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runs one benchmark, or all of them (each in its own process, so peak memory is its own) and rewrites
BENCHMARKS.md with the figures and the commands that reproduce them."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import NAMES


def run_one(name: str, size: str, minutes: float | None = None) -> dict:
    module = importlib.import_module(f"benchmarks.{name}")
    if size not in module.SIZES:
        raise SystemExit(f"benchmark {name!r} has sizes {module.SIZES}, not {size!r}")
    return {"benchmark": name, "size": size, **(module.run(size, minutes=minutes) if minutes else module.run(size))}


RESULTS = Path(__file__).parent / "results"


def measure(name: str, size: str, minutes: float | None = None) -> dict:
    """Run one benchmark in its own process (so peak memory is its own) and keep its figures."""
    cmd = [sys.executable, "-m", "benchmarks", name, "--size", size, "--json",
           *(["--minutes", str(minutes)] if minutes else [])]
    print(f"running {name} --size {size}", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        figures = {"error": proc.stderr.strip()[-2000:]}
    else:
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["measured_at"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}-{size}.json").write_text(json.dumps(figures, indent=1))
    return figures


def write_markdown(out: Path) -> None:
    lines = [
        "# Benchmarks", "",
        f"Assembled {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from `benchmarks/results/`, {platform.machine()}, "
        f"{_cpus()} cores, Python {platform.python_version()}. The machine is noisy (each table gives the load "
        "average when it was measured): figures are medians where a benchmark repeats. Each table's command "
        "reproduces it; `make bench` reruns them all.", "",
    ]
    for name in NAMES:
        module = importlib.import_module(f"benchmarks.{name}")
        lines += [f"## {name}", "", (module.__doc__ or "").strip(), ""]
        for size in module.SIZES:
            path = RESULTS / f"{name}-{size}.json"
            command = f"`python -m benchmarks {name} --size {size} --json`"
            if not path.exists():
                lines += [f"{command}: not measured yet (`python -m benchmarks {name} --size {size} --record`)", ""]
                continue
            figures = json.loads(path.read_text())
            if "error" in figures:
                lines += [f"{command} failed:", "", "```", figures["error"], "```", ""]
                continue
            lines += [command, "", "| figure | value |", "| --- | --- |"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in figures.items() if k not in ("benchmark", "size")]
            lines.append("")
    out.write_text("\n".join(lines))
    print(f"wrote {out}", file=sys.stderr)


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _cpus() -> int:
    return os.cpu_count() or 0


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks")
    p.add_argument("name", nargs="?", choices=NAMES)
    p.add_argument("--size", default="default")
    p.add_argument("--json", action="store_true", help="print one JSON object of figures")
    p.add_argument("--all", action="store_true", help="run every benchmark at every size")
    p.add_argument("--record", action="store_true", help="run NAME at --size, keep it, rewrite the markdown")
    p.add_argument("--markdown", action="store_true", help="only rewrite the markdown from kept results")
    p.add_argument("--write", type=Path, default=Path("BENCHMARKS.md"))
    p.add_argument("--minutes", type=float, help="how long a soak runs (benchmarks that take it)")
    args = p.parse_args()
    if args.all:
        for name in NAMES:
            module = importlib.import_module(f"benchmarks.{name}")
            for size in getattr(module, "ALL_SIZES", module.SIZES):
                measure(name, size)
        write_markdown(args.write)
        return
    if args.markdown:
        write_markdown(args.write)
        return
    if args.record:
        print(json.dumps(measure(args.name, args.size, args.minutes)))
        write_markdown(args.write)
        return
    if not args.name:
        p.error("name a benchmark or pass --all")
    figures = run_one(args.name, args.size, args.minutes)
    print(json.dumps(figures) if args.json else json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

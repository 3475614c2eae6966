"""`python -m orchestration.serve`: `dagster dev` (UI, schedules and sensors) and the live runtime side by side,
as `make run` starts them, and beside them the build of whatever is not materialized yet
(`orchestration.materialize --missing`, whose runs the UI shows as they go). Nothing waits for the build: the
UI answers at once, and the live runtime follows the market and trades nothing until the build's retrain
promotes its champions, then starts by itself. Ctrl-C (or SIGTERM) stops everything; if the UI or the runtime
exits, the rest is stopped too (the build ending, well or not, stops nothing: it says how it ended)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    bin_dir = Path(sys.executable).parent
    live_args = argv if argv is not None else sys.argv[1:]
    commands = {
        "dagster dev": [str(bin_dir / "dagster"), "dev", "-w", "workspace.yaml"],
        "live runtime": [sys.executable, "-m", "live_runtime", "run", *live_args],
    }
    procs = {name: subprocess.Popen(cmd, cwd=ROOT, start_new_session=True) for name, cmd in commands.items()}
    build = subprocess.Popen([sys.executable, "-m", "orchestration.materialize", "--missing"], cwd=ROOT,
                             start_new_session=True)
    print("dagster UI: http://127.0.0.1:3000   live page: http://127.0.0.1:8765   (Ctrl-C stops both)\n"
          "building what is missing beside them (its runs are in the UI); the runtime trades once champions exist",
          flush=True)

    def stop(*_):
        for p in [*procs.values(), build]:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in [*procs.values(), build]:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        reported = False
        while all(p.poll() is None for p in procs.values()):
            if not reported and build.poll() is not None:
                reported = True
                print("build finished" if build.returncode == 0 else
                      f"build failed ({build.returncode}): see its runs in the Dagster UI", flush=True)
            time.sleep(0.5)
        exited = next(n for n, p in procs.items() if p.poll() is not None)
        print(f"{exited} exited with {procs[exited].returncode}; stopping the other", flush=True)
    except KeyboardInterrupt:
        pass
    stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m orchestration.serve`: `dagster dev` (UI, schedules and sensors) and the live runtime side by side,
as `make run` starts them. Ctrl-C (or SIGTERM) stops both; if either exits, the other is stopped too."""

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
    print("dagster UI: http://127.0.0.1:3000   live page: http://127.0.0.1:8765   (Ctrl-C stops both)", flush=True)

    def stop(*_):
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for p in procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        exited = next(n for n, p in procs.items() if p.poll() is not None)
        print(f"{exited} exited with {procs[exited].returncode}; stopping the other", flush=True)
    except KeyboardInterrupt:
        pass
    stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

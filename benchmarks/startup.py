"""How fast `spl` answers when no model runs: median wall time of fresh processes.

python benchmarks/startup.py      # target: well under 0.5 s each (TensorFlow is never imported)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

SPL = str(Path(sys.executable).with_name("spl"))
COMMANDS = (["--help"], ["separate", "--help"], ["models", "list"])


def main(runs: int = 7) -> None:
    for args in COMMANDS:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([SPL, *args], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        print(f"spl {' '.join(args):<18} median {statistics.median(times) * 1000:6.0f} ms  (min {min(times) * 1000:.0f} ms, {runs} runs)")


if __name__ == "__main__":
    main()

"""How fast the host is right now: the CPU time of a fixed pure-Python loop, taken when a bench run
starts and when it ends, with the bench's own interpreter. On a shared VM it moves (the same loop in
the machine's `python3` took 0.26–0.53 s within one hour on the 2-core bench machine,
docs/benchmarks.md): ratios within a run survive that, absolute figures of two runs are only
comparable when the probe read alike."""

from __future__ import annotations

import time

PROBE_STEPS = 5_000_000


def probe_s() -> float:
    """CPU seconds (this process) of PROBE_STEPS additions in a Python loop; lower is faster."""
    started = time.process_time()
    total = 0
    for i in range(PROBE_STEPS):
        total += i
    return time.process_time() - started

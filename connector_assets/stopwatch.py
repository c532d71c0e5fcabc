"""Wall and CPU time of stretches of work, added up: what stages report and benchmarks read.

CPU time is the whole process's (every thread), so on a shared machine it tells the work
done apart from the time spent waiting for a core.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Stopwatch:
    """Seconds of wall-clock and process CPU time over every `timing()` block so far."""

    wall_s: float = 0.0
    cpu_s: float = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        """Add the block's wall and CPU time, whether it ends or raises."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall_s += time.perf_counter() - wall
            self.cpu_s += time.process_time() - cpu

"""How many threads digitnet computes with, and the BLAS thread pool that NumPy's matrix products
use.

NumPy's BLAS (OpenBLAS here) starts one thread per core and its threads *spin* while they wait
for work. On a machine that another busy process shares, they spin against it: measured here,
training on the sample took 2.5 s instead of 0.73 s beside one busy process (1.2 s with one BLAS
thread). So digitnet chooses its thread count from what the other processes leave free:

    n = CPUs this process may use - CPU time the *other* processes used lately (at least 1)

measured from /proc/stat (Linux; elsewhere all the CPUs are taken as free), and sets BLAS's pool
to it while it trains (``train()`` chooses again at every epoch, so it follows a neighbour that
starts or stops). ``DIGITNET_THREADS=N`` (or ``threads=N``, ``--threads N``) forces the count.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .errors import SpecError

#: the environment variable that forces the thread count
ENV = "DIGITNET_THREADS"
#: a first measurement of the other processes' load watches the CPUs for this long
FIRST_SAMPLE_SECONDS = 0.1


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _busy_and_total() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


class LoadMeter:
    """The CPU time other processes used between two readings, in CPUs (1.0: one busy core)."""

    def __init__(self) -> None:
        self._last: tuple[float, float, float] | None = None
        self._previous = 0.0

    def _read(self) -> tuple[float, float, float] | None:
        m = _busy_and_total()
        return None if m is None else (m[0], time.monotonic(), _own_seconds())

    def others(self) -> float | None:
        """Other processes' load since the last call (the first call watches for a moment);
        None where it cannot be measured."""
        now = self._read()
        if now is None:
            return None
        if self._last is None:
            time.sleep(FIRST_SAMPLE_SECONDS)
            self._last, now = now, self._read()
            if now is None:
                return None
        (busy0, t0, own0), (busy1, t1, own1) = self._last, now
        wall = t1 - t0
        if wall < 0.02:  # too short to tell: the reading before stays the reference
            return self._previous
        self._last = now
        self._previous = max(0.0, ((busy1 - busy0) - (own1 - own0)) / wall)
        return self._previous


#: the meter that predictions share: its first reading is taken here, when digitnet is
#: imported, so a prediction can read the load since then without waiting
SHARED = LoadMeter()
SHARED._last = SHARED._read()
_executors: dict[int, ThreadPoolExecutor] = {}


def executor(n: int) -> ThreadPoolExecutor:
    """A pool of ``n`` worker threads, made once and kept (predictions reuse it)."""
    if n not in _executors:
        _executors[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="digitnet-predict")
    return _executors[n]


def forced(threads: int | None = None) -> int | None:
    """The thread count asked for: ``threads`` if given, else ``DIGITNET_THREADS``, else None."""
    if threads is None:
        value = os.environ.get(ENV, "").strip()
        if not value:
            return None
        try:
            threads = int(value)
        except ValueError:
            raise SpecError(f"{ENV}={value!r}: give a whole number of threads, e.g. "
                            f"{ENV}=2") from None
    if not isinstance(threads, int) or threads < 1:
        raise SpecError(f"the number of threads must be a whole number >= 1, got {threads!r}")
    return threads


def choose(threads: int | None = None, meter: LoadMeter | None = None) -> int:
    """How many threads to compute with now: ``threads`` / ``DIGITNET_THREADS`` if set, else the
    CPUs the other processes left free (measured with ``meter``), at least 1."""
    n = forced(threads)
    if n is not None:
        return n
    cpus = cpu_count()
    others = (meter or LoadMeter()).others()
    if others is None:
        return cpus
    return max(1, min(cpus, round(cpus - others)))


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """BLAS's thread pool limited to ``n`` threads inside the block (through threadpoolctl;
    without it, BLAS keeps its own count)."""
    limiter: Any = None
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional nicety: without it, digitnet still computes
        pass
    else:
        limiter = threadpool_limits(limits=n, user_api="blas")
    try:
        yield
    finally:
        if limiter is not None:
            limiter.restore_original_limits()

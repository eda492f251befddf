"""What the benchmark watches besides wrk: the CPU time of a process tree, and the latency
of ``/healthz`` while the server is under load (as a load balancer's health check sees it:
a new connection for every check)."""

from __future__ import annotations

import http.client
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

_TICKS = os.sysconf("SC_CLK_TCK")
HEALTH_INTERVAL = 0.1  # seconds between two checks
HEALTH_TIMEOUT = 10.0


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of one process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    # After the command: state, ppid, ..., utime (14th field of the line), stime (15th).
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds used so far by ``root`` and every live descendant (gunicorn's master and
    its workers). Workers that died meanwhile are not counted: compare within one run."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                parents[int(entry)], cpu[int(entry)] = stat
    total, wanted = 0.0, {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                grew = True
    for pid in wanted:
        total += cpu.get(pid, 0.0)
    return total


class HealthSampler:
    """Checks ``root + path`` every ``HEALTH_INTERVAL`` in a thread until ``stop()``."""

    def __init__(self, root: str, path: str = "/healthz") -> None:
        parts = urlsplit(root)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._path = path
        self.latencies_ms: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="healthz-sampler", daemon=True)

    def start(self) -> HealthSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            conn = http.client.HTTPConnection(self._host, self._port, timeout=HEALTH_TIMEOUT)
            try:
                conn.request("GET", self._path)
                answer = conn.getresponse()
                answer.read()
                if answer.status == 200:
                    self.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    self.failures += 1
            except OSError:
                self.failures += 1
            finally:
                conn.close()
            self._stop.wait(HEALTH_INTERVAL)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(HEALTH_TIMEOUT + 1)
        ordered = sorted(self.latencies_ms) or [float("nan")]

        def pct(p: float) -> float:
            return ordered[min(int(p / 100 * len(ordered)), len(ordered) - 1)]

        return {
            "checks": len(self.latencies_ms),
            "failures": self.failures,
            "p50": pct(50),
            "p99": pct(99),
            "max": ordered[-1],
        }


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                parents[int(entry)] = stat[0]
    wanted = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                grew = True
    return sorted(wanted)


def tree_memory_mb(root: int) -> tuple[float, float]:
    """Memory of ``root`` and its descendants in MB: (summed RSS, shared pages counted in each
    process; summed PSS, each shared page split between the processes that share it)."""
    rss = pss = 0
    for pid in _tree(root):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


class RssSampler:
    """The peaks of ``tree_memory_mb(root)`` over a row, sampled twice a second in a thread."""

    def __init__(self, root: int) -> None:
        self._root = root
        self.peak = tree_memory_mb(root)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def _sample(self) -> None:
        rss, pss = tree_memory_mb(self._root)
        self.peak = (max(self.peak[0], rss), max(self.peak[1], pss))

    def stop(self) -> tuple[float, float]:
        self._stop.set()
        self._thread.join(5)
        self._sample()
        return self.peak


def cpu_speed_ms() -> float:
    """CPU milliseconds a fixed pure-Python loop takes here now, the best of three: a shared
    (virtual) machine's cores are not always as fast (seen here: 480 to 830 ms for the same
    loop within a minute), and a Python server's CPU per mint moves with them, the floor's not."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = 0
        for i in range(5_000_000):
            total += i
        best = min(best, (time.process_time() - started) * 1000)
    return best

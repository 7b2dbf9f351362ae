"""Run one measured job in a child process: wall time and peak RSS (VmHWM) of that process, the peak
RSS of the largest process it started in turn (the plan report's reader is a fork), and the most the
two held at once.

A fork's RSS counts the pages it shares with its parent, which the parent's counts too: the sum of
the two peaks is more than the machine ever gave them, and either peak alone is less. So while the
job runs its memory is sampled every tenth of a second: its RSS plus each child's own pages
(``Private_Clean + Private_Dirty`` of ``/proc/PID/smaps_rollup``), the memory the job held at that
moment. ``peak_rss_together`` is the largest sample, and never less than the job's own peak (a
sample can fall between two spikes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["measure"]

_CHILD = r"""
import json, sys, time, importlib, resource
module, func, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
fn = getattr(importlib.import_module(module), func)
start = time.perf_counter()
count = fn(*args)
elapsed = time.perf_counter() - start
extra = {}
if isinstance(count, dict):  # a job that times only its own part: {"count", "seconds", ...}
    extra, count, elapsed = count, count.pop("count"), count.pop("seconds")
hwm = 0
with open("/proc/self/status") as fh:
    for line in fh:
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) * 1024
# ru_maxrss is in KiB on Linux: the largest child waited for (its pages shared with this one count again).
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({**extra, "count": count, "seconds": elapsed, "peak_rss": hwm, "children_peak_rss": children}))
"""


def measure(module: str, func: str, *args: Any) -> dict[str, Any]:
    """Call ``module.func(*args)`` (it returns how many records it handled, or a dict with ``count`` and
    the ``seconds`` of the part it timed) in a fresh interpreter."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, module, func, json.dumps(list(args))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    together = [0]
    done = threading.Event()
    sampler = threading.Thread(target=_sample, args=(proc.pid, together, done), daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate()
    finally:
        done.set()
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{module}.{func} failed:\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["per_second"] = result["count"] / result["seconds"] if result["seconds"] else 0.0
    result["peak_rss_together"] = max(together[0], result["peak_rss"])
    return result


def _sample(pid: int, peak: list[int], done: threading.Event) -> None:
    """Until *done*: the largest (RSS of *pid* + the private pages of its children) seen, in bytes."""
    while not done.wait(0.1):
        rss = _field(Path(f"/proc/{pid}/status"), "VmRSS:")
        if rss is None:
            return  # the job has exited
        own = 0
        for child in _children(pid):
            rollup = Path(f"/proc/{child}/smaps_rollup")
            own += (_field(rollup, "Private_Clean:") or 0) + (_field(rollup, "Private_Dirty:") or 0)
        peak[0] = max(peak[0], (rss + own) * 1024)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _field(path: Path, name: str) -> int | None:
    """A ``Name:  N kB`` line's N, or None when the file is gone (its process exited)."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None

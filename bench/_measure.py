"""Run one measured job in a child process: wall time and peak RSS (VmHWM) of that process, and the
peak RSS of the largest process it started in turn (the plan report's reader is a fork)."""

from __future__ import annotations

import json
import subprocess
import sys
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
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, module, func, json.dumps(list(args))],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module}.{func} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["per_second"] = result["count"] / result["seconds"] if result["seconds"] else 0.0
    return result

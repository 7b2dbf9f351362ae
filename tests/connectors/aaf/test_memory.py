"""Flat memory: reading a 100 MB AAF file costs no more peak memory than reading a 20 MB one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.connectors.aaf.helpers import HEADER, etab, pupil

_PROBE = """
import json, sys
from ent_migrate.contract import Capability
from ent_migrate.registry import open_connector

def hwm():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))

connector = open_connector("aaf:" + sys.argv[1])
before = hwm()
count = sum(1 for _ in connector.read(Capability.ACCOUNTS))
print(json.dumps({"growth_kb": hwm() - before, "records": count, "problems": connector.problems.to_list()}))
"""

_PADDING = "X" * 9000  # a long value: lots of bytes for little Python work per record


def write_big_bundle(folder: Path, megabytes: int) -> int:
    """Stream a bundle whose pupil file is about *megabytes* MB; return the number of pupils."""
    folder.mkdir()
    (folder / "ENT2D_Complet_20240916_EtabEducNat_0000.xml").write_text(
        HEADER.format(encoding="UTF-8") + "<ficAlimMENESR>\n" + etab() + "</ficAlimMENESR>\n", encoding="utf-8"
    )
    count = 0
    with (folder / "ENT2D_Complet_20240916_Eleve_0000.xml").open("w", encoding="utf-8") as fh:
        fh.write(HEADER.format(encoding="UTF-8") + "<ficAlimMENESR>\n")
        while fh.tell() < megabytes << 20:
            count += 1
            fh.write(pupil(str(100000 + count), ENTPersonAdresse=_PADDING))
        fh.write("</ficAlimMENESR>\n")
    return count


def probe(folder: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", _PROBE, str(folder)], capture_output=True, text=True, check=True)
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_peak_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    small_count = write_big_bundle(tmp_path / "small", 20)
    big_count = write_big_bundle(tmp_path / "big", 100)
    small, big = probe(tmp_path / "small"), probe(tmp_path / "big")
    assert small["problems"] == big["problems"] == []
    assert (small["records"], big["records"]) == (small_count + 1, big_count + 1)  # pupils + the structure
    growth_small, growth_big = int(small["growth_kb"]), int(big["growth_kb"])  # type: ignore[call-overload]
    # Five times the bytes: the peak may differ by the per-pupil id sets (bytes each), never by the file.
    assert growth_big - growth_small < 16 * 1024, (growth_small, growth_big)
    assert growth_big < 64 * 1024, growth_big

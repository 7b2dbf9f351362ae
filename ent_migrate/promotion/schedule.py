"""``promote schedule --print``: a systemd timer and service, and the equivalent cron line.

The runs happen every evening of the window (early July to mid-October by default) at ``run_time``,
outside school hours; the state store's lock keeps two runs from overlapping (a second one exits 2).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ent_migrate.promotion.config import PromotionConfig

__all__ = ["cron_line", "systemd_units"]


def _months(pc: PromotionConfig) -> list[int]:
    start, end = pc.window_start[0], pc.window_end[0]
    return list(range(start, end + 1)) if start <= end else [*range(start, 13), *range(1, end + 1)]


def _command(config_path: Path, executable: str) -> str:
    return f"{shlex.quote(executable)} --quiet promote -c {shlex.quote(str(config_path))} apply"


def systemd_units(pc: PromotionConfig, config_path: Path, executable: str = "ent-migrate") -> dict[str, str]:
    (sm, sd), (em, ed) = pc.window_start, pc.window_end
    hh, mm = pc.run_time.split(":")
    calendars = []
    for month in _months(pc):
        first = sd if month == sm else 1
        last = ed if month == em else 31
        calendars.append(f"OnCalendar=*-{month:02d}-{first:02d}..{last:02d} {hh}:{mm}:00")
    timer = "\n".join(
        [
            "[Unit]",
            "Description=ent-migrate cycle-3 promotion (CM2 to 6e), every evening of the window",
            "",
            "[Timer]",
            *calendars,
            "Persistent=false",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
    service = "\n".join(
        [
            "[Unit]",
            "Description=ent-migrate cycle-3 promotion run",
            "",
            "[Service]",
            "Type=oneshot",
            f"WorkingDirectory={shlex.quote(str(config_path.parent))}",
            f"ExecStart={_command(config_path, executable)}",
            "# exit 2: another run holds the state store's lock (never two runs at once); 4: resumed next time",
            "SuccessExitStatus=0 1",
            "",
        ]
    )
    return {"ent-migrate-promotion.timer": timer, "ent-migrate-promotion.service": service}


def cron_line(pc: PromotionConfig, config_path: Path, executable: str = "ent-migrate") -> str:
    hh, mm = pc.run_time.split(":")
    months = ",".join(str(m) for m in _months(pc))
    (sm, sd), (em, ed) = pc.window_start, pc.window_end
    # cron cannot say "from 1 July to 15 October": the whole months run; on a day with nothing due
    # a run only reads both sides and changes nothing.
    return (
        f"{int(mm)} {int(hh)} * {months} * cd {shlex.quote(str(config_path.parent))} && "
        f"{_command(config_path, executable)}  # window {sm:02d}-{sd:02d}..{em:02d}-{ed:02d}"
    )

"""``promote schedule --print``: a systemd timer and service, and the equivalent cron line.

The runs happen every evening of the window (early July to mid-October by default) at ``run_time``,
outside school hours; the state store's lock keeps two runs from overlapping (a second one exits 2).
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from ent_migrate.promotion.config import PromotionConfig

__all__ = ["cron_line", "default_executable", "environment_file", "systemd_units"]


def default_executable() -> str:
    """The ent-migrate that is running, by absolute path: systemd wants one, and a virtualenv's
    console script is on no PATH cron or systemd would search."""
    found = shutil.which("ent-migrate")
    here = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0].endswith("ent-migrate") else None
    return str(here) if here is not None and here.is_file() else (found or f"{sys.executable} -m ent_migrate")


def environment_file(config_path: Path) -> Path:
    """Where the service reads the ``${VAR}`` secrets of the config from (privacy key, state key...):
    a root-only file beside the config, never the unit itself."""
    return config_path.with_suffix(".env")


def _months(pc: PromotionConfig) -> list[int]:
    start, end = pc.window_start[0], pc.window_end[0]
    return list(range(start, end + 1)) if start <= end else [*range(start, 13), *range(1, end + 1)]


def _command(config_path: Path, executable: str) -> str:
    # the executable may be "python -m ent_migrate": its words are quoted one by one
    program = " ".join(shlex.quote(word) for word in executable.split(" "))
    return f"{program} --quiet promote -c {shlex.quote(str(config_path))} apply"


def systemd_units(pc: PromotionConfig, config_path: Path, executable: str | None = None) -> dict[str, str]:
    executable = executable or default_executable()
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
            f"WorkingDirectory={config_path.parent}",
            "# the ${VAR} secrets of the config (privacy key, state key), one VAR=value per line, mode 0600",
            f"EnvironmentFile={environment_file(config_path)}",
            f"ExecStart={_command(config_path, executable)}",
            "# exit 2: another run holds the state store's lock (never two runs at once); 4: resumed next time",
            "SuccessExitStatus=0 1",
            "",
        ]
    )
    return {"ent-migrate-promotion.timer": timer, "ent-migrate-promotion.service": service}


def cron_line(pc: PromotionConfig, config_path: Path, executable: str | None = None) -> str:
    """The crontab lines of the window, to the day: cron has no "1 July to 15 October", so the first
    and the last month get a line of their own (day ranges) and the months between one together."""
    hh, mm = pc.run_time.split(":")
    (sm, sd), (em, ed) = pc.window_start, pc.window_end
    months = _months(pc)
    command = (
        f"cd {shlex.quote(str(config_path.parent))} && set -a && . {shlex.quote(str(environment_file(config_path)))}"
        f" && set +a && {_command(config_path, executable or default_executable())}"
    )
    if len(months) == 1:
        spans = [(f"{sd}-{ed}", str(sm))]
    else:
        middle = ",".join(str(m) for m in months[1:-1])
        spans = [(f"{sd}-31", str(sm)), *([("*", middle)] if middle else []), (f"1-{ed}", str(em))]
    return "\n".join(
        f"{int(mm)} {int(hh)} {days} {month} * {command}  # window {sm:02d}-{sd:02d}..{em:02d}-{ed:02d}"
        for days, month in spans
    )

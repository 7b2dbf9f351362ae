"""``ent-migrate inspect``: the JSON shape, --records, --expect-uai and the exit codes."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ent_migrate.cli import _inspect, main
from ent_migrate.cli.app import app
from ent_migrate.registry import open_connector
from tests.connectors.aaf.helpers import document, etab, guardian, pupil, staff, write_bundle

COUNT_KEYS = {
    "structures",
    "students",
    "guardians",
    "staff",
    "classes",
    "groups",
    "guardianships",
    "memberships",
    "functions",
}


def run_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from ent_migrate.cli import main; main()", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``ent-migrate ARGS`` in this process, through ``main`` (which maps errors to exit codes)."""

    def invoke(*args: str) -> Result:
        monkeypatch.setattr(sys, "argv", ["ent-migrate", *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main()
        out, err = capsys.readouterr()
        code = exit_info.value.code
        return Result(code if isinstance(code, int) else 2, out, err)

    return invoke


@dataclasses.dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def clean_bundle(tmp_path: Path) -> Path:
    return write_bundle(
        tmp_path / "clean",
        {
            "EtabEducNat": document([etab(groups=["LATIN$Latin"])]),
            "PersRelEleve": document([guardian("500")]),
            "Eleve": document([pupil("100", parents=["500$10$0$1$0$0"], ENTEleveGroupes="10$LATIN")]),
            "PersEducNat": document(
                [
                    staff("900", ["10$ENS$ENSEIGNEMENT$L1300$MATHS"], ENTAuxEnsClasses="10$6A"),
                    staff("901", ["10$ADF$ADMINISTRATION$$"]),
                ]
            ),
        },
    )


def test_clean_source_exit_0_and_exact_json(clean_bundle: Path) -> None:
    result = run_process("inspect", f"aaf:{clean_bundle}", "--json")  # once end to end, as a user runs it
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"counts", "problems"}
    assert data["counts"] == {
        "structures": 1,
        "students": 1,
        "guardians": 1,
        "staff": 2,
        "classes": 1,
        "groups": 1,
        "guardianships": 1,
        "memberships": 3,
        "functions": 2,
    }
    assert data["problems"] == []


def test_problems_exit_1_with_positions(tmp_path: Path, run: Callable[..., Result]) -> None:
    bundle = write_bundle(
        tmp_path / "bad",
        {
            "EtabEducNat": document([etab()]),
            "Eleve": document([pupil("100", ENTEleveINE=""), pupil("101", ENTPersonDateNaissance="2013-01-01")]),
        },
    )
    result = run("inspect", f"aaf:{bundle}", "--json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert set(data["counts"]) == COUNT_KEYS
    codes = {p["code"]: p for p in data["problems"]}
    assert set(codes) == {"ine.missing", "date.invalid"}
    for entry in data["problems"]:
        # "details" (which field, which reference) when the reader gave any, as plan's report keeps them
        assert set(entry) - {"details"} == {"code", "severity", "count", "examples"}
        assert all(e.startswith("ENT2D_Complet_20240916_Eleve_0000.xml:") for e in entry["examples"])
    assert codes["date.invalid"]["severity"] == "error"
    assert codes["date.invalid"]["details"]  # the detail says which field
    assert codes["ine.missing"]["count"] == 1


def test_records_are_json_lines_and_the_summary_goes_to_stderr(clean_bundle: Path, run: Callable[..., Result]) -> None:
    result = run("inspect", f"aaf:{clean_bundle}", "--records", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 13  # 1 structure, 4 people, 2 functions, 2 groups, 3 memberships, 1 link
    assert {line["kind"] for line in lines} == {
        "structure",
        "person",
        "function",
        "group",
        "membership",
        "guardianship",
    }
    assert json.loads(result.stderr)["counts"]["students"] == 1


def test_a_missing_location_is_unreachable_as_in_check(run: Callable[..., Result]) -> None:
    result = run("inspect", "aaf:/nonexistent/bundle", "--json")
    assert result.returncode == 3  # the same code as `connectors check` and `plan` give it
    assert "no such file or folder" in result.stderr
    assert run("connectors", "check", "aaf:/nonexistent/bundle").returncode == 3


@pytest.mark.parametrize("spec", ["nosuchconnector:/x", "not-a-spec"])
def test_usage_errors_exit_2_without_traceback(spec: str, run: Callable[..., Result]) -> None:
    result = run("inspect", spec, "--json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error:")


def test_human_output(clean_bundle: Path, run: Callable[..., Result]) -> None:
    result = run("inspect", f"aaf:{clean_bundle}")
    assert result.returncode == 0
    assert "students" in result.stdout
    assert "no problems" in result.stdout


def test_expect_uai_is_refused_by_a_connector_without_it(run: Callable[..., Result]) -> None:
    result = run("inspect", "memory:empty", "--json", "--expect-uai", "0350001L")
    assert result.returncode == 2
    assert "the memory connector has no expect_uai option" in result.stderr


def test_expect_uai_is_passed_as_a_connector_option(monkeypatch: pytest.MonkeyPatch, clean_bundle: Path) -> None:
    seen: dict[str, Any] = {}
    real = open_connector  # what _inspect imported, and what the spy hands over to

    def spy(spec: str, options: dict[str, Any] | None = None, **kw: Any) -> Any:
        seen["options"] = options
        return real(spec, options, **kw)

    monkeypatch.setattr(_inspect, "open_connector", spy)
    result = CliRunner().invoke(app, ["inspect", f"aaf:{clean_bundle}", "--json", "--expect-uai", "0750001U"])
    assert seen["options"] == {"expect_uai": "0750001U"}
    assert result.exit_code == 1  # the bundle is for another school: uai.mismatch
    assert "uai.mismatch" in {p["code"] for p in json.loads(result.output)["problems"]}

"""Mapping files: every section read as documented, every mistake named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ent_migrate.errors import ConfigError
from ent_migrate.mapping import ClassSplit, apply_steps, load_mapping

FULL = """\
[login]
template = "{first_initial}{last}"
max_length = 20
keep_existing = false

[accounts]
on_missing = "keep"

[classes.rename]
"CM2 A" = "CM2-A"
"0690001A$6E1" = "6e1"

[classes.split."CP A"]
into = ["CP A1", "CP A2"]
rule = "alphabetical"

[classes.split."0690001A$CE1"]
into = ["CE1 A", "CE1 B"]
rule = "listed"
pupils = { "CE1 A" = ["p1", "p2"], "CE1 B" = ["p3"] }

[transforms.person]
last_name = ["strip", "upper"]
first_name = ["strip", { replace = ["’", "'"] }, "truncate:12"]

[transforms.group]
name = ["fold_ascii"]
"""


def test_the_shipped_default_loads_with_its_documented_defaults() -> None:
    spec = load_mapping("default")
    assert (spec.login_template, spec.login_max_length, spec.login_keep_existing) == ("{first}.{last}", 32, True)
    assert (spec.class_renames, spec.class_splits, spec.transforms) == ({}, {}, {})


def test_matching_weights_and_thresholds_are_read(tmp_path: Path) -> None:
    spec = load_mapping(str(_write(tmp_path, "[matching]\naccept = 1\nreview = 0.6\nbirth_date = 0.5\n")))
    assert (spec.weights.accept, spec.weights.review, spec.weights.birth_date) == (1.0, 0.6, 0.5)
    assert spec.weights.last_name == load_mapping("default").weights.last_name  # the rest keep their defaults


def test_every_section_is_read(tmp_path: Path) -> None:
    spec = load_mapping(str(_write(tmp_path, FULL)))
    assert spec.login_keep_existing is False
    assert spec.on_missing_person == "keep"
    assert spec.class_rule("0690009Z", "CM2 A") == "CM2-A"
    assert spec.class_rule("0690001A", "6E1") == "6e1"
    assert spec.class_rule("0690009Z", "6E1") is None  # a school-scoped rename stays in its school
    split = spec.class_rule("0690001A", "CE1")
    assert isinstance(split, ClassSplit)
    assert (split.into, split.rule, dict(split.pupils)) == (
        ("CE1 A", "CE1 B"),
        "listed",
        {"p1": "CE1 A", "p2": "CE1 A", "p3": "CE1 B"},
    )
    assert spec.transforms["person"]["first_name"] == (("strip",), ("replace", "’", "'"), ("truncate", "12"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text, encoding="utf-8")
    return path


# (what is written, the line the error must name, words the message must hold)
BAD = [
    ("[login]\nkeep_existing = 1\n", 2, "true or false"),
    ("[login]\nmax_length = 2\n", 2, "3 to 256"),
    ("[classes]\nmove = {}\n", 2, "unknown key move"),
    ('[classes.rename]\n"CM2 A" = ""\n', 2, "class code"),
    ('[classes.rename]\n"CM2 A" = "A$B"\n', 2, "no '$'"),
    ('\n[classes.split."CP A"]\ninto = ["CP A1"]\n', 3, "two or more"),
    ('[classes.split."CP A"]\ninto = ["X", "Y"]\nrule = "random"\n', 3, "alphabetical or listed"),
    ('[classes.split."CP A"]\ninto = ["X", "Y"]\nrule = "listed"\n', 3, "goes with rule"),
    ('[classes.split."CP A"]\ninto = ["X", "Y"]\nrule = "listed"\npupils = { X = ["a"], Y = ["a"] }\n', 4, "two parts"),
    ('[classes.split."CP A"]\ninto = ["X", "Y"]\nrule = "listed"\npupils = { Z = ["a"] }\n', 4, "part of into"),
    ('[classes.split."CP A"]\ninto = ["X", "Y"]\nsize = 3\n', 3, "unknown key size"),
    ('[classes.rename]\nA = "B"\nB = "C"\n', 3, "changed again"),
    ('[transforms.person]\n\nlast_name = ["title"]\n', 3, "not a transform step"),
    ('[transforms.person]\nlast_name = ["truncate:0"]\n', 2, "truncate:N"),
    ('[transforms.person]\nlast_name = [{ replace = ["a"] }]\n', 2, "two literal strings"),
    ('[transforms.person]\nlast_name = [{ regex = ["a", "b"] }]\n', 2, "not a transform step"),
    ('[transforms.person]\nid = ["lower"]\n', 2, "not id"),
    ("[transforms.person]\nlast_name = []\n", 2, "list of steps"),
    ('\n\n[transforms.membership]\ngroup_code = ["lower"]\n', 3, "not 'membership'"),
    ('[profiles]\nstudent = "National_ELV"\n', 1, "unknown section [profiles]"),
    ("[matching]\n\naccept = true\n", 3, "must be a number"),
    ("[matching]\nbirth_date = 11\n", 2, "between -10 and 10"),
    ("[matching]\naccept = 0.8\nreview = 0.85\n", 3, "not be above accept"),
    ("[matching]\nreview = 0\n", 2, "above 0"),
    ("[matching]\nsurname = 0.3\n", 2, "unknown key surname"),
]


@pytest.mark.parametrize(("text", "line", "words"), BAD, ids=[b[2] for b in BAD])
def test_a_mistake_names_the_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_mapping(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert words in message


SAFE_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@given(SAFE_TEXT, st.integers(1, 256))
def test_steps_do_what_they_say(value: str, n: int) -> None:
    assert apply_steps(value, [("truncate", str(n))]) == value[:n]
    folded = apply_steps(value, [("fold_ascii",)])
    assert folded.isascii()
    stripped = apply_steps(value, [("strip",)])
    assert stripped == stripped.strip()
    assert "  " not in stripped
    assert apply_steps(stripped, [("strip",)]) == stripped  # idempotent
    assert apply_steps(value, [("upper",), ("lower",)]) == value.upper().lower()
    assert apply_steps(value, [("replace", "a", "b")]) == value.replace("a", "b")


def test_replace_is_literal_not_a_pattern() -> None:
    assert apply_steps("a.c abc", [("replace", ".", "-")]) == "a-c abc"
    assert apply_steps("abc", [("replace", ".*", "")]) == "abc"  # as a pattern it would wipe the text

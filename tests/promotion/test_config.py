"""A mistake in the [promotion] section names the file and the line, as every other config error does."""

from __future__ import annotations

import pytest

from ent_migrate.config import load_config
from ent_migrate.errors import ConfigError
from ent_migrate.fixtures.promotion import PromotionFixture
from ent_migrate.promotion import load_promotion_config


def _line(text: str, key: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith(f"{key} ="))


@pytest.mark.parametrize(
    ("key", "bad", "message"),
    [
        ("deletion_months", "6", "expected an integer from 0 to 3"),  # the CNIL's three months at most
        ("run_time", '"10:00"', "during school hours"),
        ("window_start", '"07/01"', "expected MM-DD"),
        ("promotion_date", '"soon"', "expected a date"),
    ],
)
def test_a_bad_value_names_file_and_line(promo: PromotionFixture, key: str, bad: str, message: str) -> None:
    text = promo.config.read_text(encoding="utf-8")
    lines = text.splitlines()
    at = _line(text, key)
    lines[at - 1] = f"{key} = {bad}"
    promo.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_promotion_config(load_config(promo.config))
    assert f"{promo.config}:{at}: [promotion] {key}: " in str(refused.value)
    assert message in str(refused.value)


def test_an_unknown_key_names_its_line(promo: PromotionFixture) -> None:
    text = promo.config.read_text(encoding="utf-8").replace("[promotion]\n", "[promotion]\nyear = 2026\n")
    promo.config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_promotion_config(load_config(promo.config))
    assert f"{promo.config}:{_line(text, 'year')}: [promotion] year: unknown key(s) year" in str(refused.value)

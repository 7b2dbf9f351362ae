"""The UAI (unité administrative immatriculée, ex-RNE): seven digits and a check letter.

The letter is ``"ABCDEFGHJKLMNPRSTUVWXYZ"[int(digits) % 23]`` (no I, O, Q). Readers call
:func:`check_uai` on every UAI they read and report the reason it returns; the generator makes valid
UAIs with :func:`uai_check_letter`.
"""

from __future__ import annotations

import re

__all__ = ["UAI_PATTERN", "check_uai", "uai_check_letter"]

#: the shape of a UAI, once upper-cased
UAI_PATTERN = re.compile(r"^\d{7}[A-Z]$")
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def uai_check_letter(seven_digits: str) -> str:
    """The check letter of a 7-digit UAI prefix."""
    if len(seven_digits) != 7 or not seven_digits.isdigit() or not seven_digits.isascii():
        raise ValueError("a UAI prefix is exactly 7 digits")
    return _LETTERS[int(seven_digits) % 23]


def check_uai(value: str) -> str | None:
    """Why *value* is not a valid UAI (a short reason for a problem's detail), or None when it is one.
    The reason never quotes the value (it may be a mistyped personal field)."""
    if not value.isascii() or not UAI_PATTERN.fullmatch(value):
        return "not 7 digits and a letter"
    if uai_check_letter(value[:7]) != value[7]:
        return "wrong check letter"
    return None

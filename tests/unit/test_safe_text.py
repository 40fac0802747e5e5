"""console.safe_text: what a terminal or a spreadsheet would obey never gets through."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.commands.control import format_calls
from console.safe_text import json_printable, printable, spreadsheet_safe

BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=80)  # surrogates too


def obeyed(character: str) -> bool:
    return unicodedata.category(character) in ("Cc", "Cs") or character in BIDI


@pytest.mark.parametrize(
    ("hostile", "shown"),
    [
        ("\x1b]0;owned\x07+1555", "]0;owned+1555"),  # window title
        ("\x1b[2J\x1b[H+1555", "[2J[H+1555"),  # clear screen, cursor home
        ("\x9b2J+1555", "2J+1555"),  # the same as one C1 byte
        ("\x1b]52;c;ZWNobw==\x07+1555", "]52;c;ZWNobw==+1555"),  # clipboard write (OSC 52)
        ("\u202e5551+", "5551+"),  # right-to-left override
        ("+1\ud8005", "+1\ufffd5"),  # a lone surrogate cannot be written as UTF-8
        ("+1555\x00\x7f", "+1555"),
        ("[@click=app.quit]x[/]", "[@click=app.quit]x[/]"),  # markup is text here: no control
        ("+1 555 ☎ 中文 e\u0301", "+1 555 ☎ 中文 e\u0301"),
    ],
)
def test_terminal_escapes_c1_controls_and_bidi_overrides_are_removed(hostile, shown) -> None:
    assert printable(hostile) == shown


def test_line_breaks_become_spaces_in_one_line_and_newlines_in_several() -> None:
    assert printable("a\r\nb\rc\nd\te\x85f\u2028g") == "a b c d e f g"
    assert printable("a\r\nb\rc\x0bd\te", multiline=True) == "a\nb\nc\nd e"


@given(ANY_TEXT, st.booleans())
def test_nothing_printable_returns_would_be_obeyed_by_a_terminal(text: str, multiline: bool):
    shown = printable(text, multiline=multiline)
    assert not [c for c in shown if obeyed(c) and not (multiline and c == "\n")]
    assert printable(shown, multiline=multiline) == shown  # settled: a second pass changes nothing


@given(st.text(st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), max_size=80))
def test_printable_text_comes_back_unchanged(text: str) -> None:
    assert printable(text) == text


@given(st.recursive(st.none() | ANY_TEXT | st.integers(), lambda inner: st.lists(inner)
                    | st.dictionaries(ANY_TEXT, inner), max_leaves=10))  # fmt: skip
def test_printed_json_is_the_same_data_with_nothing_a_terminal_would_obey(data) -> None:
    text = json_printable(json.dumps(data, indent=2, ensure_ascii=False))
    assert json.loads(text) == data
    assert not [c for c in text if obeyed(c) and c != "\n"]


@pytest.mark.parametrize(
    "formula",
    ["=HYPERLINK(\"https://evil.example\",\"call back\")", "+1+cmd|' /C calc'!A0", "-2+3",
     "@SUM(A1)", "\t=1", "\r=1"],
)  # fmt: skip
def test_a_csv_cell_a_spreadsheet_would_run_is_quoted(formula: str) -> None:
    assert spreadsheet_safe(formula) == "'" + formula


def test_a_csv_cell_that_is_text_or_a_number_is_left_alone() -> None:
    assert [spreadsheet_safe(v) for v in ("caller hung up", -3, 1.5, None, "")] == [
        "caller hung up", -3, 1.5, None, ""
    ]


def test_control_list_shows_a_live_callers_number_without_its_escapes() -> None:
    table = format_calls([{"call_sid": "CA1", "state": "listening", "caller": "\x1b]0;x\x07+1"}])
    assert "\x1b" not in table and "\x07" not in table and "]0;x+1" in table

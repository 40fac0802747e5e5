"""Text from callers, the call store or an exception, made safe to put in front of an operator.

Anything a caller controls (their number, Twilio custom parameters, what they said) reaches the
console and the `voiceconsole calls` output. A terminal obeys what it is sent: ESC and the C1
controls (0x9b is a one-byte CSI) clear the screen, retitle the window, or write the clipboard
(OSC 52); bidi overrides make text read backwards; a lone surrogate (valid in JSON) cannot be
encoded and crashes the write. So every displayed or printed string goes through `printable`.

A spreadsheet obeys what it opens, too: `spreadsheet_safe` keeps a CSV cell from being a formula.

Pure, and imports nothing from `console`: every ring may use it.
"""

from __future__ import annotations

import re

# What `printable` removes: C0 (line breaks are handled first), DEL, C1, and the bidi embeddings,
# overrides, isolates and marks (they reorder what the operator reads: "Trojan Source").
_C1_AND_BIDI = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[\x00-\x1f{_C1_AND_BIDI}]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # unpaired: not text, cannot be encoded as UTF-8
# Everything that ends a line somewhere: CR LF, LF, CR, VT, FF, NEL (C1), LS, PS.
_LINE_BREAK = re.compile("\r\n|[\n\r\x0b\x0c\x85\u2028\u2029]")
# json.dumps escapes C0 itself (a raw "\n" in its text is its own indentation), not the rest.
_RAW_IN_JSON = re.compile(f"[{_C1_AND_BIDI}\u2028\u2029\ud800-\udfff]")

REPLACEMENT = "\ufffd"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula


def printable(text: object, *, multiline: bool = False) -> str:
    """`text` as a string with nothing in it that a terminal would act on.

    Line breaks become spaces (a table cell, a header, a title), or with `multiline` a plain
    "\\n"; a tab is a space; every other control character is dropped; a lone surrogate is
    U+FFFD. Printable text comes back unchanged (and cheaply: most text is)."""
    text = text if isinstance(text, str) else str(text)
    if text.isprintable():  # False for any of the above (they are Unicode "Other" or separators)
        return text
    lines = (_within_line(line) for line in _LINE_BREAK.split(text))
    return ("\n" if multiline else " ").join(lines)


def _within_line(text: str) -> str:
    return _SURROGATE.sub(REPLACEMENT, _CONTROL.sub("", text.replace("\t", " ")))


def json_printable(json_text: str) -> str:
    """JSON text (from `json.dumps(..., ensure_ascii=False)`) with every character `printable`
    would touch written as a \\uXXXX escape: the same data, nothing the terminal acts on.
    Such characters only occur inside JSON strings, where an escape means the same."""
    return _RAW_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", json_text)


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text, never runs: a string starting with = + - @
    (or a tab or CR) gets a leading single quote (the OWASP "CSV injection" advice). Numbers
    and None are left alone, so a negative number stays a number."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value

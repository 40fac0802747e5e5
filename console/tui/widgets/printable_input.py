"""A text box that holds nothing a terminal would obey.

Textual's Input shows its value as it is, and a paste can carry anything: a caller's number copied
from a log with its escape sequences, a clipboard with a bidi override. The value is made
`printable` (console.safe_text) on every change, typed, pasted or set.
"""

from __future__ import annotations

from textual.widgets import Input

from console.safe_text import printable


class PrintableInput(Input):
    def validate_value(self, value: str) -> str:
        return printable(value)

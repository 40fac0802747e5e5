"""A text box that holds nothing a terminal would obey.

Textual's Input shows its value as it is, and a paste can carry anything: a caller's number copied
from a log with its escape sequences, a clipboard with a bidi override. What is typed or pasted is
made `printable` (console.safe_text) before it goes in, so the cursor lands after what was kept;
a value set in code is made printable too.
"""

from __future__ import annotations

from textual.widgets import Input

from console.safe_text import printable


class PrintableInput(Input):
    def replace(self, text: str, start: int, end: int) -> None:
        super().replace(printable(text), start, end)

    def validate_value(self, value: str) -> str:
        return printable(value)

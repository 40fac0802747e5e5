"""A line or a panel of text of a fixed size that is set far more often than it changes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class SteadyStatic(Static):
    """Shown again on every board change (10 a second at 50 calls) and every clock tick, mostly
    with the same words: repaints only when what it shows changed, and never asks the screen for
    a layout. Static.update does by default, and re-arranging every widget on the screen for one
    line of text is wasted: a SteadyStatic's size is set by its CSS (a fixed height or a
    fraction), never by its text."""

    _shown: Text | None = None

    def show_text(self, text: Text) -> None:
        if self._shown is not None and _looks_same(self._shown, text):
            return
        self._shown = text
        self.update(text, layout=False)


def _looks_same(shown: Text, text: Text) -> bool:
    """Text's == compares the words and the styled spans, not the base style."""
    return shown == text and shown.style == text.style

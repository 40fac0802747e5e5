"""One line: where Twilio reaches us, the tunnel and webhook, the provider tiers, error counts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text

from console.safe_text import printable
from console.tui.backend import BackendStatus
from console.tui.widgets.steady import SteadyStatic

ERROR_SUFFIXES = ("_errors", "_failures")  # flat counters, e.g. protocol_errors, store_failures


class StatusBar(SteadyStatic):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text-muted; padding: 0 1; }
    """

    def show(self, status: BackendStatus) -> None:
        self.show_text(render_status(status))  # once a second, mostly the same


def render_status(status: Mapping[str, Any]) -> Text:
    """Printable (console.safe_text): a status may quote an error from the tunnel or Twilio."""
    text = Text()
    if status.get("unsigned_public"):  # ALLOW_UNSIGNED_PUBLIC: said for as long as it runs
        text.append("⚠ PUBLIC, SIGNATURES OFF ", style="bold white on red")
    where = status.get("public_url") or status.get("local_url") or "no public URL"
    text.append(printable(where), style="bold")
    text.append(printable(f"  tunnel {status.get('tunnel') or '—'}"))
    text.append(printable(f"  webhook {status.get('webhook') or '—'}"))
    tiers = status.get("tiers") or {}
    shown_tiers = " ".join(f"{k} {tiers.get(k, '—')}" for k in ("stt", "llm", "tts"))
    text.append(printable(f"  {shown_tiers}"))
    errors = {k: v for k, v in error_counts(status).items() if v}
    summary = ", ".join(f"{k} {v}" for k, v in errors.items()) or "none"
    text.append(printable(f"  errors {summary}"), style="bold red" if errors else "")
    return text


def error_counts(status: Mapping[str, Any]) -> dict[str, int]:
    """`errors` as a dict, plus any flat `*_errors` / `*_failures` counters beside it."""
    counts = dict(status.get("errors") or {})
    for key, value in status.items():
        for suffix in ERROR_SUFFIXES:
            if key.endswith(suffix) and isinstance(value, int):
                counts[key.removesuffix(suffix)] = value
    return counts

"""Stored calls (console.storage.records) in words: table cells, a call's header, transcript,
events; and exports. Pure functions, except `export_calls`, which writes a file (run it in a
thread)."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime
from pathlib import Path

from rich.text import Text

from console.safe_text import printable
from console.storage.records import CallDetail, CallRecord, StoredEvent
from console.tui.backend import HistorySource
from console.tui.describe import describe, duration
from console.tui.widgets.transcript import LABELS

EXPORT_KINDS = ("json", "csv")
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")  # what Twilio issues; a stored SID came off the wire
_SAFE_STEM = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ExportUnavailable(RuntimeError):
    """The history source has no export (see console.tui.backend.HistoryExports)."""


class UnsafeExportName(ValueError):
    """An export file name that is not a plain name inside the exports folder."""


def when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M") if epoch else "—"


def row_cells(call: CallRecord) -> tuple[Text, ...]:
    """One history table row: when, caller, profile, duration, turns, how it ended, emergency,
    and what it came to (the disposition)."""
    flag = Text("⚠ emergency", style="bold red") if call.emergency else Text("")
    return (
        Text(when(call.started)),
        Text(_shown(call.from_number, "unknown")),
        Text(_shown(call.profile, "—")),
        Text(duration(call.duration) if call.duration is not None else "live"),
        Text(printable(call.turn_count)),
        Text(_ending(call)),
        flag,
        Text(_shown(call.disposition, "—")),
    )


def _shown(value: str | None, default: str = "") -> str:
    """A stored value, printable (console.safe_text): the store keeps what callers sent."""
    return printable(value or default)


def _ending(call: CallRecord) -> str:
    return printable(call.end_reason or call.status or "")


def render_record_header(call: CallRecord) -> Text:
    text = Text()
    text.append(_shown(call.from_number, "unknown"), style="bold")
    text.append(f" → {_shown(call.to_number, '—')}  profile {_shown(call.profile, '—')}  ")
    text.append(f"{when(call.started)}  ")
    text.append(duration(call.duration) if call.duration is not None else "still live")
    text.append(f"  {_ending(call)}", style="dim")
    if call.emergency:
        text.append("  ⚠ EMERGENCY", style="bold white on red")
    return text


def render_record_transcript(call: CallDetail) -> Text:
    text = Text()
    for turn in call.turns:
        if text:
            text.append("\n")
        role = printable(turn.role)
        label, style = LABELS.get(role, (role[:8].ljust(8), "bold"))
        text.append(f"{label} ", style=style)
        text.append(printable(turn.text or ""))
        if turn.interrupted:
            text.append(" ⟂ cut", style="bold yellow")
    return text or Text("nobody said anything on this call", style="dim")


def render_record_events(call: CallDetail) -> Text:
    """The audit log in the live timeline's words, timed from the start of the call."""
    text = Text()
    started = call.started or 0.0
    for row in call.events:
        line = _describe_row(row)
        if line is None:
            continue
        if text:
            text.append("\n")
        text.append(f"+{duration(max(0.0, row.at - started)):>6} ", style="dim")
        text.append(line)
    return text or Text("no events were recorded", style="dim")


def _describe_row(row: StoredEvent) -> str | None:
    if row.event is not None:
        return describe(row.event)
    # Stored by another version (an unknown kind, other fields): shown as it was stored.
    return printable(f"{row.kind} {dict(row.payload)}")


def export_stem(call_sid: str) -> str:
    """The file name of one call's export: its SID when it is a Twilio call SID, else "call-"
    and a digest of it (the same SID, the same name). A SID in the store is whatever the wire
    said, and "../../x" is no file name."""
    if CALL_SID.fullmatch(call_sid):
        return call_sid
    digest = hashlib.sha256(call_sid.encode("utf-8", "surrogatepass")).hexdigest()
    return f"call-{digest[:16]}"


def export_path(folder: Path, kind: str, stem: str = "calls") -> Path:
    """A new export file directly inside `folder`; raises UnsafeExportName for anything else."""
    if kind not in EXPORT_KINDS or not _SAFE_STEM.fullmatch(stem):
        raise UnsafeExportName(f"not an export name: {printable(stem)!r}.{printable(kind)}")
    path = (folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.{kind}").resolve()
    if path.parent != folder.resolve():  # e.g. a symlink with the export's name in it
        raise UnsafeExportName(f"{path} is not inside the exports folder {folder}")
    return path


def export_calls(history: HistorySource, kind: str, call_sids: list[str], stem: str) -> str:
    """Write the calls as JSON or CSV under the history's exports folder; returns what to tell
    the operator. Blocking (database reads, a file write): a thread worker runs it."""
    exporter = getattr(history, f"export_calls_{kind}", None)
    folder = getattr(history, "exports_dir", None)
    if exporter is None or folder is None:
        raise ExportUnavailable("this runtime's call history cannot export")
    path = export_path(Path(folder), kind, stem)
    count = exporter(path, call_sids)
    return f"Exported {count} call{'s' if count != 1 else ''} to {path}"

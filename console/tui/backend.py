"""What the operator console needs from the runtime, and nothing more.

`console.runtime.build_backend(settings)` returns something shaped like `ConsoleBackend`; the tests
use `tests/tui/fakes.FakeBackend`. The console never reaches past this seam: no sockets, no SDKs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict, runtime_checkable

from console.calls.control import CallControl
from console.events import EventBus, SummaryEdited
from console.storage.records import CallDetail, CallRecord

if TYPE_CHECKING:
    from console.audio_ring import CallRing
    from console.summary.brief import CallBrief

Progress = Callable[[str, str], None]
"""Start-up reporter: (step, status or explanation), e.g. ("tunnel", "unavailable: no pyngrok")."""


class BackendStatus(TypedDict, total=False):
    """What the status bar shows. Every key is optional: a missing one renders as "—". Flat
    integer counters named `*_errors` or `*_failures` count as errors too."""

    public_url: str | None
    local_url: str  # shown when there is no public URL
    tunnel: str  # e.g. "ngrok", "off", "failed: ..."
    webhook: str  # e.g. "synced", "not configured", "failed: ..."
    tiers: dict[str, str]  # {"stt": "cloud", "llm": "scripted", "tts": "local"}
    errors: dict[str, int]  # {"protocol": 0, "provider": 2, ...}


class HistorySource(Protocol):
    """Past calls from storage (`console.storage.repository.CallRepository` has this shape).
    These are BLOCKING database reads and file writes: call them from thread workers
    (`run_worker(..., thread=True)`), never on the event loop."""

    def list_calls(
        self,
        limit: int | None = 50,
        offset: int = 0,
        search: str | None = None,
        *,
        profile: str | None = None,
        emergency: bool | None = None,
        since: float | None = None,
        disposition: str | None = None,
    ) -> list[CallRecord]:
        """Newest first; `search` is words said in the call, or part of a number or SID.
        (The history screen passes `disposition` only when the operator chose one.)"""
        ...

    def get_call(self, call_sid: str) -> CallDetail | None:
        """The call with its turns, events and metrics, or None."""
        ...


class HistoryExports(Protocol):
    """Optional on a HistorySource: exports, written under `exports_dir` (data/exports)."""

    exports_dir: Path

    def export_calls_json(self, path: Path, call_sids: Iterable[str] | None = None) -> int: ...

    def export_calls_csv(self, path: Path, call_sids: Iterable[str] | None = None) -> int: ...


@runtime_checkable  # the call record screen offers editing only when the history has it
class HistoryEdits(Protocol):
    """Optional on a HistorySource: an operator's corrections of what a call came to."""

    def edit_call(self, call_sid: str, changes: dict[str, str], actor: str
                  ) -> list[SummaryEdited]:
        """`changes`: "summary", "disposition" or "fields.NAME" -> the new value. Stores what
        changed, each change audited (who, when, old, new); returns those changes. Blocking.
        Raises LookupError (no such call) or ValueError (an item that cannot be edited)."""
        ...


class ListenInSource(Protocol):
    """A live call's audio, both legs, for the operator's speaker (`LiveCalls.tap`)."""

    def tap(self, call_sid: str, sink: Callable[[str, bytes], None]) -> Callable[[], None]:
        """`sink(leg, mulaw)` gets every 20 ms frame of the "caller" and "agent" legs, on the
        event loop; returns the untap function. Raises LookupError for a call that is not live."""
        ...


# --- issue 15: catch-up on join (both optional on a backend; the console says when absent) ------


class CatchUpSource(ListenInSource, Protocol):
    """`listen_in` with the call's recent audio (`LiveCalls.recent`)."""

    def recent(self, call_sid: str) -> CallRing:
        """A copy of the live call's last 15 s, both legs; tap the call in the same loop step
        to continue it. Raises LookupError for a call that is not live."""
        ...


class BriefSource(Protocol):
    """On the backend itself (`Runtime.briefs`): a live call's one-line brief."""

    def briefs(self, call_sid: str) -> AsyncIterator[CallBrief]:
        """The deterministic extract at once, then on the cloud tier the model's line (or the
        extract again with why the model's is missing). Raises LookupError: not live."""
        ...


class ConsoleBackend(Protocol):
    # Read-only: a backend may hold a richer object (the runtime's LiveCalls is a CallControl).
    @property
    def bus(self) -> EventBus: ...
    @property
    def control(self) -> CallControl: ...
    @property
    def history(self) -> HistorySource: ...
    @property
    def listen_in(self) -> ListenInSource | None: ...  # None: cannot tap call audio

    async def start(self, progress: Progress) -> None:
        """Settings, tunnel, webhook sync, server listening, provider tiers, in that order, each
        reported through `progress`. Runs on the console's event loop and must never block it.
        Raises when start-up cannot continue (the console shows why and stays open)."""
        ...

    async def stop(self) -> None:
        """The ordered shutdown of DESIGN.md habit 7 (calls, storage, webhook, tunnel)."""
        ...

    def status(self) -> BackendStatus:
        """Cached values only: it is called once a second on the event loop."""
        ...

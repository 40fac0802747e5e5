"""What the operator console needs from the runtime, and nothing more.

`console.runtime.build_backend(settings)` returns something shaped like `ConsoleBackend`; the tests
use `tests/tui/fakes.FakeBackend`. The console never reaches past this seam: no sockets, no SDKs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypedDict

from console.calls.control import CallControl
from console.events import EventBus

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
    """Past calls from storage. These are BLOCKING database reads: call them from thread workers
    (`run_worker(..., thread=True)`), never on the event loop."""

    def list_calls(
        self, limit: int = 50, offset: int = 0, search: str | None = None
    ) -> list[dict[str, Any]]: ...

    def get_call(self, call_sid: str) -> dict[str, Any] | None:
        """The call with its turns, events and metrics, or None."""
        ...


class ListenInSource(Protocol):
    """TODO(listen-in, later increment): the call's mixed audio for the operator's speakers."""

    def tap(self, call_sid: str, sink: Callable[[bytes], None]) -> Callable[[], None]:
        """Feed 8 kHz mu-law frames (both directions mixed) to `sink`; returns an untap function."""
        ...


class ConsoleBackend(Protocol):
    bus: EventBus
    control: CallControl
    history: HistorySource
    listen_in: ListenInSource | None  # None until the runtime can tap call audio

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

"""What a simulated call did, written down as it happened: the raw material of its summary.

The caller (caller.py) fills a `CallLog`; the summary (summary.py) and the benches read it. Neither
of those needs the caller itself, so the summary never imports it. Times are seconds since the call
started (the `start` message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallLog:
    sent_at: list[float] = field(default_factory=list)  # every media frame sent
    received_at: list[float] = field(default_factory=list)  # ... and every media frame received
    turn_starts: list[float] = field(default_factory=list)  # agent audio reaching an idle speaker
    speech: list[dict[str, Any]] = field(default_factory=list)  # per utterance: start/end, barge-in
    clears: list[float] = field(default_factory=list)
    marks_echoed: list[str] = field(default_factory=list)
    marks_received: int = 0
    dtmf_sent: str = ""
    errors: list[str] = field(default_factory=list)
    protocol_errors: int = 0
    speech_frames_sent: int = 0
    restreams: list[float] = field(default_factory=list)  # a new stream of the call began
    connected: bool = False
    ended_by: str = ""  # "caller", "server", "refused", "connect-failed"
    close_code: int | None = None
    duration: float = 0.0
    heard_bytes: int = 0  # mu-law bytes the simulated speaker played (8 per ms)

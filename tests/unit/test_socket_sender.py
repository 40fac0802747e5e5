"""Writes to a call's media socket: a peer that keeps reading gets every frame in order; one that
stopped reading (its socket backed up) is let go after SEND_TIMEOUT_S instead of holding the
call's playback forever."""

from __future__ import annotations

import asyncio
import json

from console.telephony import server
from console.telephony.server import _SocketSender


class PeerSocket:
    """The media socket as _SocketSender sees it. `stalled`: every write waits forever, as a
    write to a socket whose peer stopped reading does once the buffers are full."""

    def __init__(self, stalled: bool) -> None:
        self.closed = False
        self.stalled = stalled
        self.sent: list[dict] = []

    async def send_str(self, text: str) -> None:
        self.sent.append(json.loads(text))
        if self.stalled:
            await asyncio.Event().wait()


class Connection:
    call_label = "CAtest"

    def __init__(self, ws: PeerSocket, backlog: int) -> None:
        self.ws = ws
        self.backlog = backlog
        self.abandoned: list[str] = []

    def abandon(self, reason: str) -> None:
        self.abandoned.append(reason)

    def write_backlog(self) -> int:
        return self.backlog


async def test_frames_to_a_peer_that_keeps_up_go_out_in_order() -> None:
    ws = PeerSocket(stalled=False)
    sender = _SocketSender(Connection(ws, backlog=0), "MZ1")
    for value in (1, 2, 3):
        await sender.send_audio(bytes([value]) * 160)
    await sender.send_mark("sentence-1")
    assert [m["event"] for m in ws.sent] == ["media", "media", "media", "mark"]
    assert not sender.sealed


async def test_a_peer_that_stopped_reading_is_let_go_after_the_send_timeout(monkeypatch) -> None:
    monkeypatch.setattr(server, "SEND_TIMEOUT_S", 0.05)
    ws = PeerSocket(stalled=True)
    connection = Connection(ws, backlog=1 << 20)
    sender = _SocketSender(connection, "MZ1")
    await asyncio.wait_for(sender.send_audio(b"\xff" * 160), timeout=2.0)
    assert sender.sealed
    assert connection.abandoned == ["peer-stopped-reading"]  # cut off, so the call can end
    await sender.send_audio(b"\xff" * 160)  # later writes are dropped, quietly
    assert len(ws.sent) == 1

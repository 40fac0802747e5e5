"""What a fleet console knows of the live calls: which worker has each, and who holds it.

Learned from the live-call snapshots when the console joins (joining.py) and kept up to date by
every event it follows on the fleet's stream. Plain data, no Redis: the backend feeds it.
"""

from __future__ import annotations

from console import events as ev


class Directory:
    def __init__(self) -> None:
        self._workers: dict[str, str] = {}  # live call -> its worker
        self.holders: dict[str, str] = {}  # live call -> the operator holding it, as announced

    def worker_of(self, call_sid: str) -> str | None:
        return self._workers.get(call_sid)

    def live(self) -> list[str]:
        return list(self._workers)

    def workers(self) -> set[str]:
        return set(self._workers.values())

    def place(self, call_sid: str, worker: str) -> bool:
        """The call is on `worker`; True when that is news (a new call, or one that moved)."""
        news = self._workers.get(call_sid) != worker
        self._workers[call_sid] = worker
        return news

    def observe(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.CallEnded):
            self._workers.pop(event.call_sid, None)
            self.holders.pop(event.call_sid, None)
        elif isinstance(event, ev.CallClaimed):
            self.holders[event.call_sid] = event.holder
        elif isinstance(event, ev.ClaimReleased):
            if self.holders.get(event.call_sid) == event.holder:  # not a later holder's claim
                del self.holders[event.call_sid]


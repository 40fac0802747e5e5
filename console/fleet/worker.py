"""A media server as one worker of the fleet: what `voiceconsole serve` adds with a fleet URL.

`join_fleet` gives the server its seat (where its /voice sends each new call) and returns the
worker's attachment for the runtime, which starts it at the end of start-up and stops it first
at shutdown: the worker leaves routing before its calls are ended.

Draining (rolling restarts): `voiceconsole serve --drain NAME` sets the worker's drain key; the
worker reads it at its next beat, says `draining` in its beats from then on (routing, its own
/voice included, sends new calls elsewhere), and once its live calls have ended calls
`on_drained` (the serve command then shuts down the ordered way and exits).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable

from pydantic import SecretStr

from console.config import PublicAddress, Settings
from console.fleet.connection import connect
from console.fleet.registry import Heartbeat, WorkerBeat
from console.fleet.routing import choose
from console.telephony.placement import Placement
from console.telephony.server import MediaServer

log = logging.getLogger(__name__)

# A drained worker stays open this long after it says so before it exits: another worker may
# have sent it a call just before it saw the flag, and Twilio opens that stream a second or two
# after /voice answered.
DRAIN_GRACE_S = 2.0


def join_fleet(settings: Settings, server: MediaServer, address: PublicAddress, *,
               on_drained: Callable[[], None]) -> FleetWorker:
    """Make `server` a worker of the fleet at `settings.fleet.url` (which must be set); attach
    what this returns to the runtime."""
    url = settings.fleet.url
    if url is None:
        raise ValueError("join_fleet needs VOICECONSOLE_FLEET_URL")
    worker = FleetWorker(settings, url, server, address, on_drained)
    server.join_fleet(worker)
    return worker


def default_name() -> str:
    """Unique on a machine and readable on the board: host name and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


class FleetWorker:
    """The runtime's attachment (console.runtime.Attached) and the server's seat
    (console.telephony.placement.CallPlacer) in one: both read the same heartbeat."""

    name = "fleet"

    def __init__(self, settings: Settings, url: SecretStr, server: MediaServer,
                 address: PublicAddress, on_drained: Callable[[], None]) -> None:
        fleet = settings.fleet
        self.worker = fleet.name or default_name()
        self.front_url = fleet.front_url
        # Routing must not send more than the server admits (VOICECONSOLE_LIMITS_MAX_CALLS).
        self.capacity = min(fleet.capacity, settings.limits.max_calls)
        self._server = server
        self._address = address
        self._on_drained = on_drained
        self._redis = connect(url)
        self.heartbeat = Heartbeat(self._redis, self.beat, fleet.heartbeat_s, self._after_beat)
        self._grace_s = DRAIN_GRACE_S + 2 * fleet.heartbeat_s  # ours published, theirs read
        self._draining_since: float | None = None
        self._drained = False
        self._stopped = False
        # Calls sent to each worker since the last beat: counted at once, so that a burst of
        # calls within a heartbeat spreads instead of all going to whoever looked emptiest.
        self._placed: Counter[str] = Counter()

    # ---- the runtime's attachment -------------------------------------------------------

    async def start(self) -> object:
        await self.heartbeat.start()
        return self

    async def stop(self) -> None:
        """Out of routing first (the key goes), then the connection. Once, however often."""
        if not self._stopped:
            self._stopped = True
            await self.heartbeat.stop()
            await self._redis.aclose()

    def describe(self) -> str:
        state = self.heartbeat.state()
        if state["redis"] != "ok":
            return f"worker {self.worker}: Redis {state['redis']}; serving on its own"
        view = self.heartbeat.view
        count = len(view.workers) if view else 0
        return f"worker {self.worker} beating, {count} worker(s) in the fleet"

    # ---- what this worker says of itself ------------------------------------------------

    def beat(self) -> WorkerBeat:
        return WorkerBeat(name=self.worker, url=self._address.url or self._server.url,
                          load=self._server.live_calls, capacity=self.capacity,
                          draining=self.draining, pid=os.getpid(), beat_at=time.time())

    @property
    def draining(self) -> bool:
        return self._draining_since is not None

    def drain(self) -> None:
        """Take no new calls from now on; `on_drained` once the live ones have ended."""
        if self._draining_since is None:
            self._draining_since = time.monotonic()
            log.warning("fleet: worker %s is draining: no new calls; it exits when its %d "
                        "call(s) have ended", self.worker, self._server.live_calls)

    # ---- the server's seat --------------------------------------------------------------

    def place(self) -> Placement | None:
        """The least loaded worker as the last beat saw the fleet, this one as it is now. In a
        Redis outage the others are unknown (maybe dead): calls stay here while it has room."""
        view = self.heartbeat.fresh_view()
        others = [w for w in view.workers if w.name != self.worker] if view else []
        fleet = [self._with_placed(w) for w in (*others, self.beat())]
        chosen = choose(fleet)
        if chosen is None:
            return None
        self._placed[chosen.name] += 1
        return Placement(chosen.name, chosen.url)

    def health(self) -> dict[str, object]:
        return {"worker": self.worker, "draining": self.draining, **self.heartbeat.state()}

    def _with_placed(self, worker: WorkerBeat) -> WorkerBeat:
        placed = self._placed[worker.name]
        return dataclasses.replace(worker, load=worker.load + placed) if placed else worker

    # ---- each beat ------------------------------------------------------------------------

    def _after_beat(self) -> None:
        self._placed.clear()  # the beats now count them (or soon will)
        view = self.heartbeat.view
        if view is not None and view.drain_requested:
            self.drain()
        if self._finished_draining() and not self._drained:
            self._drained = True
            log.warning("fleet: worker %s has drained: every call ended; leaving", self.worker)
            self._on_drained()

    def _finished_draining(self) -> bool:
        since = self._draining_since
        return (since is not None and self._server.live_calls == 0
                and time.monotonic() - since >= self._grace_s)

"""The worker's side of operator actions: its control stream, run on its own live calls.

Consoles write actions to keys.control(worker) (console/fleet/actions.py); this reads them (XREAD
BLOCK: a worker's control stream has one reader, the worker) and calls its CallControl, exactly
as the single-process console does. So the outcome reaches every console the way all else does:
CallControl records each action as an OperatorActed on the worker's bus, the worker publishes its
bus to the fleet's stream, and every console follows that. Both name the console's request: the
OperatorActed through ACTING_FOR (console/calls/control.py), set in the action's own task, and
an action that fails here is published as OperatorActionFailed.

It is a runtime attachment (console/runtime.py `Attached`): `serve` attaches it to the worker's
runtime, which starts it last and stops it first.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from console import events as ev
from console.calls.control import ACTING_FOR, CallControl
from console.fleet import actions, keys
from console.fleet.tail import Fields, newest_id, read_entries, stop_tasks

log = logging.getLogger(__name__)

BLOCK_MS = 1000  # one XREAD waits this long for an action before asking again
RETRY_S = 0.5  # after Redis failed us: the calls go on, actions wait for it to come back


class ControlConsumer:
    name = "fleet control"

    def __init__(self, client: aioredis.Redis, worker: str, control: CallControl,
                 bus: ev.EventBus) -> None:
        self._redis = client
        self.worker = worker
        self._control = control
        self._bus = bus
        self._stream = keys.control(worker)
        self._reading: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def start(self) -> object:
        # From the stream's end: actions left for an earlier worker of this name are stale.
        last = await newest_id(self._redis, self._stream)
        self._reading = asyncio.create_task(self._read_from(last),
                                            name=f"fleet control of {self.worker}")
        return self

    async def stop(self) -> None:
        tasks = {task for task in (self._reading, *self._running) if task is not None}
        await stop_tasks(tasks, self._stop_flag)
        self._reading = None

    def _stop_flag(self) -> None:
        self._stopping = True

    def describe(self) -> str:
        return f"operator actions read from {self._stream}"

    async def _read_from(self, last: str) -> None:
        while not self._stopping:
            try:
                replies = await self._redis.xread({self._stream: last}, block=BLOCK_MS)
            except RedisError as error:
                log.warning("control stream %s unreadable: %s", self._stream, error)
                await asyncio.sleep(RETRY_S)  # Redis is out of reach: ask again shortly
                continue
            for entry_id, fields in read_entries(replies):
                last = entry_id
                self._run(fields)

    def _run(self, fields: Fields) -> None:
        """Each action in its own task: a warm transfer that takes a minute must not hold up a
        hang-up on another call."""
        request = actions.decode(fields)
        if request is None:
            log.warning("skipped a control entry that is not an action: %r", fields)
            return
        task = asyncio.create_task(self._act(request),
                                   name=f"operator {request.action} {request.call_sid}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _act(self, request: actions.ActionRequest) -> None:
        ACTING_FOR.set(request.request)  # this task's own context: its OperatorActed names it
        try:
            method = getattr(self._control, request.action)
            await method(request.call_sid, actor=request.actor, **request.args)
        except Exception as error:  # noqa: BLE001 - told to the console that asked, not raised
            log.info("%s on %s for %s failed: %r", request.action, request.call_sid,
                     request.console, str(error))
            self._bus.publish(ev.OperatorActionFailed(
                request.call_sid, action=request.action, actor=request.actor,
                error=str(error) or type(error).__name__, request=request.request))


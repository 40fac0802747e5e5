"""The delivery worker: takes due rows from the outbox, POSTs them, records what happened.

One named task (`webhook-delivery`), owned by the runtime (or by `voiceconsole webhooks deliver`).
All its state is in SQLite (console/storage/outbox.py), read and written off the loop: the task can
be cancelled, or the process killed, at any point and the next one carries on. Delivery is at least
once: an answer lost to a crash means the receiver sees the same idempotency key again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import aiohttp

from console.config import Settings
from console.events import CallEvent, CallSummarized
from console.handoff import policy, signature
from console.handoff.payload import build_body
from console.storage.outbox import Outbox
from console.storage.records import Delivery

log = logging.getLogger(__name__)

BATCH = 8  # deliveries in flight at once: a receiver is one service, not a crowd to flood
POLL_S = 5.0  # also look without being woken: `voiceconsole webhooks retry` runs in another process
ERROR_PAUSE_S = 1.0  # after the outbox itself failed (locked, disk): try again shortly
ANSWER_CHARS = 200  # of a refusing receiver's answer, kept as the last error
USER_AGENT = "voiceconsole-webhook/1"


class WebhookWorker:
    """`start()` it on the loop, feed it the bus (`on_event`), `await stop()` at shutdown.

    `after_commit` resolves once events already published are in the store (StoreWriter.flush):
    a summary seen on the bus is looked for in the outbox only after it was written."""

    def __init__(self, settings: Settings, outbox: Outbox, *,
                 after_commit: Callable[[], Awaitable[None]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        assert settings.webhook.url and settings.webhook.secret
        self.url = settings.webhook.url
        self._secret = settings.webhook.secret.get_secret_value()
        self.max_attempts = settings.webhook.max_attempts
        self.backoff = policy.Backoff(settings.webhook.backoff_base_s,
                                      settings.webhook.backoff_cap_s)
        self.timeout_s = settings.webhook.timeout_s
        self.outbox = outbox
        self.delivered = 0
        self.failed_attempts = 0
        self.dead_letters = 0  # as last read from the outbox: the console counts it as an error
        self._after_commit = after_commit
        self._clock = clock
        self._wake = asyncio.Event()
        self._flush_first = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._http = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        self._task = asyncio.create_task(self._run(), name="webhook-delivery")

    async def stop(self) -> None:
        """Cancel at once (a POST in flight keeps its row pending: it is sent again next time)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
        await asyncio.to_thread(self.outbox.close)

    def on_event(self, event: CallEvent) -> None:
        """EventBus subscriber: a summarized call has a delivery queued with it."""
        if isinstance(event, CallSummarized):
            self._flush_first = True
            self._wake.set()

    def wake_threadsafe(self) -> None:
        """Look at the outbox now (after an operator's retry, from a thread worker)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # -- the loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                if not await self._deliver_due():
                    await self._sleep()
            except Exception:  # the outbox failed (locked, disk): the rows wait in SQLite
                log.exception("webhook outbox unavailable; trying again")
                await asyncio.sleep(ERROR_PAUSE_S)

    async def _deliver_due(self) -> bool:
        lease_s = self.timeout_s + self.backoff.base_s  # a row claimed by a process that died
        rows = await asyncio.to_thread(self.outbox.claim_due, self._clock(), lease_s, BATCH)
        async with asyncio.TaskGroup() as group:
            for row in rows:
                group.create_task(self._deliver(row), name=f"webhook-delivery-{row.id}")
        return bool(rows)

    async def _sleep(self) -> None:
        due, self.dead_letters = await asyncio.to_thread(self.outbox.next_due)
        wait = POLL_S if due is None else min(POLL_S, max(0.0, due - self._clock()))
        try:
            await asyncio.wait_for(self._wake.wait(), wait)
        except TimeoutError:
            pass
        self._wake.clear()
        if self._flush_first and self._after_commit is not None:
            self._flush_first = False
            await self._committed(self._after_commit)

    async def _committed(self, after_commit: Callable[[], Awaitable[None]]) -> None:
        try:
            await after_commit()
        except Exception as error:  # the store is closing: the poll finds the row later
            log.debug("webhook worker could not wait for the store: %s", error)

    # -- one delivery -----------------------------------------------------------------------

    async def _deliver(self, row: Delivery) -> None:
        try:
            await self._attempt(row)
        except Exception:  # one delivery's bug must not take the others (or the loop) down
            log.exception("webhook delivery %s failed unexpectedly", row.id)

    async def _attempt(self, row: Delivery) -> None:
        # A row past its last attempt was claimed by a process that died before the answer: it
        # is sent once more (its outcome is unknown), and dead-lettered if that fails too.
        body = row.body or await asyncio.to_thread(self._freeze_body, row)
        if body is None:
            await self._record(row, None, "the call is not in the store", None, give_up=True)
            return
        status, error, wait = await self._post(row, body.encode())
        await self._record(row, status, error, wait, give_up=False)

    def _freeze_body(self, row: Delivery) -> str | None:
        """Blocking: the body from the stored call, kept so that every retry sends these bytes."""
        call = self.outbox.stored_call(row.call_sid)
        if call is None:
            return None
        body = build_body(call, row.idempotency_key, row.kind, self._clock())
        return self.outbox.freeze_body(row.id, body)

    async def _post(self, row: Delivery, body: bytes) -> tuple[int | None, str, float | None]:
        """(HTTP status or None, what went wrong, the receiver's Retry-After)."""
        assert self._http is not None
        headers = self._headers(row, body)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with self._http.post(self.url, data=body, headers=headers, timeout=timeout,
                                       allow_redirects=False) as response:
                # Only the start of the answer: a receiver's error page can be any size.
                answer = (await response.content.read(ANSWER_CHARS)).decode(errors="replace")
                wait = policy.retry_after(response.headers.get("Retry-After"))
                return response.status, f"HTTP {response.status}: {answer}".strip(), wait
        except TimeoutError:
            return None, f"no answer within {self.timeout_s:g} s", None
        except aiohttp.ClientError as error:
            return None, f"{type(error).__name__}: {error}", None

    def _headers(self, row: Delivery, body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json; charset=utf-8",
                signature.HEADER: signature.sign(self._secret, int(self._clock()), body),
                signature.IDEMPOTENCY_HEADER: row.idempotency_key,
                signature.ATTEMPT_HEADER: str(row.attempts)}

    async def _record(self, row: Delivery, status: int | None, error: str,
                      wait: float | None, *, give_up: bool) -> None:
        now = self._clock()
        verdict = "dead" if give_up else policy.verdict(status)
        if verdict == "delivered":
            assert status is not None  # delivered: the receiver answered 2xx
            self.delivered += 1
            await asyncio.to_thread(self.outbox.delivered, row.id, status, now)
            return
        self.failed_attempts += 1
        retry_at = None if verdict == "dead" else policy.next_attempt_at(
            now, row.attempts, self.max_attempts, self.backoff, wait)
        await asyncio.to_thread(self.outbox.failed, row.id, error, status, retry_at, now)
        _log_failure(row, error, retry_at, now)


def _log_failure(row: Delivery, error: str, retry_at: float | None, now: float) -> None:
    if retry_at is None:
        log.error("webhook for %s dead-lettered after %d attempt(s): %s",
                  row.call_sid, row.attempts, error)
    else:
        log.warning("webhook for %s attempt %d failed (%s); next in %.0f s",
                    row.call_sid, row.attempts, error, retry_at - now)


class Deliveries:
    """The operator's view of the outbox (console screen, runtime): BLOCKING, thread workers
    only. A retry wakes the worker when there is one in this process."""

    def __init__(self, outbox: Outbox, worker: WebhookWorker | None) -> None:
        self._outbox = outbox
        self._worker = worker

    def list_deliveries(self, statuses: tuple[str, ...] = ("dead", "pending")
                        ) -> list[Delivery]:
        return self._outbox.list_deliveries(statuses)

    def retry(self, delivery_id: int) -> bool:
        queued = self._outbox.retry(delivery_id)
        if queued and self._worker is not None:
            self._worker.wake_threadsafe()
        return queued

    def close(self) -> None:
        self._outbox.close()

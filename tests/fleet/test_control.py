"""A worker runs the operator actions sent to its own control stream on its own calls, and says
so on its bus: OperatorActed when done (CallControl records it), OperatorActionFailed if not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from console import events as ev
from console.fleet import keys
from console.fleet.actions import ActionRequest
from console.fleet.control import ControlConsumer
from tests.tui.fakes import RecordingControl

from .helpers import Seen, client

pytestmark = pytest.mark.timeout(20)

SID = "CA" + "4" * 32


class Worker:
    def __init__(self, url: str, name: str) -> None:
        self.redis = client(url)
        self.bus = ev.EventBus()
        self.seen = Seen(self.bus)
        self.control = RecordingControl(self.bus)
        self.consumer = ControlConsumer(self.redis, name, self.control, self.bus)


@pytest.fixture
async def worker(redis_server) -> AsyncIterator[Worker]:
    made = Worker(redis_server.url, "worker-a")
    yield made
    await made.consumer.stop()
    await made.redis.aclose()


async def send(worker: Worker, request: ActionRequest, to: str = "worker-a") -> None:
    await worker.redis.xadd(keys.control(to), request.encode())


async def test_an_action_sent_to_the_worker_runs_on_its_call_and_is_recorded(worker) -> None:
    await worker.consumer.start()
    await send(worker, ActionRequest("mute_agent", SID, "bob", {"muted": True}), to="worker-b")
    await send(worker, ActionRequest("mute_agent", SID, "alice", {"muted": True}))
    await worker.seen.until(lambda: worker.seen.of(ev.OperatorActed))
    assert worker.control.calls == [("mute_agent", SID, True, "alice")]  # not worker-b's action
    assert worker.seen.of(ev.OperatorActed)[0].action == "mute"


async def test_an_action_that_fails_is_published_naming_the_request(worker) -> None:
    worker.control.fail_with = LookupError(f"no live call {SID}")
    await worker.consumer.start()
    request = ActionRequest("take_over", SID, "alice", console="desk-a:1")
    await send(worker, request)
    await worker.seen.until(lambda: worker.seen.of(ev.OperatorActionFailed))
    failed = worker.seen.of(ev.OperatorActionFailed)[0]
    assert (failed.call_sid, failed.action, failed.actor, failed.error, failed.request) == \
        (SID, "take_over", "alice", f"no live call {SID}", request.request)


async def test_actions_left_for_an_earlier_worker_of_the_name_are_not_run(worker) -> None:
    await send(worker, ActionRequest("hang_up", SID, "alice"))  # before this worker started
    await worker.consumer.start()
    await send(worker, ActionRequest("say", SID, "alice", {"text": "Still there?"}))
    await worker.seen.until(lambda: worker.seen.of(ev.OperatorActed))
    assert worker.control.calls == [("say", SID, "Still there?", "alice")]


async def test_an_entry_that_is_no_action_is_skipped_and_the_next_one_runs(worker) -> None:
    await worker.consumer.start()
    bad = {**ActionRequest("hang_up", SID, "mallory").encode(), "action": "__del__"}
    await worker.redis.xadd(keys.control("worker-a"), bad)
    await send(worker, ActionRequest("whisper", SID, "alice", {"guidance": "Offer Tuesday"}))
    await worker.seen.until(lambda: worker.seen.of(ev.OperatorActed))
    assert worker.control.calls == [("whisper", SID, "Offer Tuesday", "alice")]


async def test_an_action_this_worker_cannot_do_is_published_as_failed_not_left_unanswered(
        worker) -> None:
    """A worker whose CallControl lacks the action (here: no acknowledge) says so at once,
    rather than leaving the console to wait out its timeout."""
    assert not hasattr(worker.control, "acknowledge")
    await worker.consumer.start()
    request = ActionRequest("acknowledge", SID, "alice", {"how": "seen"}, console="desk-a:1")
    await send(worker, request)
    await worker.seen.until(lambda: worker.seen.of(ev.OperatorActionFailed))
    failed = worker.seen.of(ev.OperatorActionFailed)[0]
    assert (failed.action, failed.request) == ("acknowledge", request.request)

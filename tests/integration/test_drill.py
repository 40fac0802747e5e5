"""`voiceconsole drill` end to end: the real server and runtime on the cloud stack's fakes
(Deepgram, Groq, Twilio REST on loopback), the drill's simulated callers ringing /voice and
streaming signed, as Twilio would, and the drill following its calls through the admin
endpoint's event feed. The operator is a trainee driven through CallControl, reacting to each
call's cue after known delays (its reaction time, not test synchronisation); the scores must be
those delays, and what the trainee never did must be a miss."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from console import cli
from console import events as ev
from console.admin.attach import serve_admin
from console.drill.feed import Admin
from console.drill.runner import DrillPlan, run_drill
from console.drill.scenarios import load_scenarios
from console.storage.drills import list_drills, save_drill
from tests.fakes.deepgram_fake import silence, tone
from tests.integration.conftest import Watch, start_cloud_stack, stop_cloud_stack

pytestmark = pytest.mark.timeout(60)

# Short limits keep the test quick; the built-in scenarios give the operator 15-60 s.
SCENARIOS = """
[[scenario]]
name = "chest-pain"
title = "Chest pain"
profile = "medical_intake"
lines = ["I have a crushing chest pain"]
cue = "emergency"
expect = { acknowledge = 3, take-over = 3, transfer = 3 }

[[scenario]]
name = "wants-human"
title = "Asks for a human"
profile = "scheduling"
lines = ["I want to talk to a real person"]
cue = "line"
cue_line = 1
expect = { acknowledge = 2, transfer = 1.5 }
"""
# What the trainee does after each scenario's cue: (seconds, action). No transfer for the human.
REACTIONS = {
    "chest-pain": [(0.3, "acknowledge"), (0.8, "take-over"), (1.3, "transfer")],
    "wants-human": [(0.4, "acknowledge")],
}
JITTER_S = 0.25  # the trainee's sleep and the event's trip through the feed, on a busy machine


class Trainee:
    """Subscribed to the bus like the console: it notices each drill call and its cue
    (the emergency alert; the caller's final words), then acts through CallControl."""

    def __init__(self, stack: Any) -> None:
        self.stack, self.control = stack, stack.runtime.control
        self.scenario: dict[str, str] = {}
        self.cued: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    def __call__(self, event: ev.CallEvent) -> None:
        sid = event.call_sid
        if isinstance(event, ev.DrillCallStarted):
            self.scenario[sid] = event.scenario
            self.stack.twilio.add_call(sid)  # Twilio knows the call it is asked to move
        elif sid in self.scenario and sid not in self.cued and self._is_cue(event, sid):
            self.cued.add(sid)
            task = asyncio.create_task(self._react(sid, REACTIONS[self.scenario[sid]]),
                                       name=f"trainee-{sid}")
            self.tasks.add(task)

    def _is_cue(self, event: ev.CallEvent, sid: str) -> bool:
        if self.scenario[sid] == "chest-pain":
            return isinstance(event, ev.EmergencyDetected)
        return isinstance(event, ev.CallerTranscribed) and event.final

    async def _react(self, sid: str, steps: list[tuple[float, str]]) -> None:
        loop = asyncio.get_running_loop()
        cued = loop.time()
        for after_s, action in steps:
            await asyncio.sleep(cued + after_s - loop.time())  # the trainee's reaction time
            try:
                await self._do(sid, action)
            except Exception:  # noqa: BLE001 - a refused act was still made (and recorded)
                pass

    async def _do(self, sid: str, action: str) -> None:
        if action == "acknowledge":
            await self.control.acknowledge(sid, "trainee", "alert")
        elif action == "take-over":
            await self.control.take_over(sid, "trainee")
        else:
            await self.control.transfer(sid, "default", "trainee")


async def spoken_line(text: str) -> bytes:
    """Caller speech as the fake recognizer hears it (its script holds the words)."""
    return tone(800) + silence(40)


@pytest.fixture
async def drill_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VOICECONSOLE_DATA_DB", str(tmp_path / "calls.db"))  # for the CLI's history
    stack, parts = await start_cloud_stack(
        tmp_path, script=["I have a crushing chest pain", "I want to talk to a real person"],
        ms_per_char=4.0)  # short greetings: the callers wait for them
    stack.admin = serve_admin(stack.runtime)  # as `voiceconsole serve` does, after the start
    await stack.admin.start()
    yield stack
    await stop_cloud_stack(parts)


async def test_a_drill_runs_both_calls_scores_the_known_reaction_times_and_a_miss(
        drill_stack, tmp_path: Path, capsys):
    runtime = drill_stack.runtime
    watch = Watch(runtime.bus)
    trainee = Trainee(drill_stack)
    runtime.bus.subscribe(trainee)
    path = tmp_path / "drills.toml"
    path.write_text(SCENARIOS)
    token = runtime.settings.twilio.auth_token.get_secret_value()
    admin = drill_stack.admin
    plan = DrillPlan(Admin(admin.url, admin.token), load_scenarios(path),
                     auth_token=token, account_sid=runtime.settings.twilio.account_sid,
                     render=spoken_line, cue_wait_s=3.0)

    report = await run_drill(plan)

    chest, human = report.results
    assert chest.scored and human.scored
    timed = {r.name: r for r in chest.reactions}
    for after_s, action in REACTIONS["chest-pain"]:
        assert not timed[action].missed
        assert timed[action].seconds == pytest.approx(after_s, abs=JITTER_S)
    assert [r.points for r in chest.reactions][0] == 100  # 0.3 s of 3 s: full marks
    ack, transfer = human.reactions
    # The clock starts when the caller stops speaking; the trainee sees the final words later.
    assert not ack.missed and 0.4 <= ack.seconds <= 0.4 + 1.2
    assert transfer.missed and transfer.why == "none within 1.5 s"
    assert report.misses == 1 and chest.actors == human.actors == ("trainee",)
    assert 50 < report.score < 90  # four reactions in time, one miss worth nothing

    # Both calls are marked as drills: the store keeps the mark, the summaries say it.
    await watch.until(lambda: len(watch.of("CallSummarized")) == 2)
    summaries = {e.call_sid: e.summary for e in watch.of("CallSummarized")}
    assert summaries[chest.call_sid].startswith("Drill (chest-pain): ")
    assert summaries[human.call_sid].startswith("Drill (wants-human): ")
    await runtime.store.flush()
    stored = runtime.history.get_call(chest.call_sid)
    assert stored.drill == plan.drill_id

    # Stored, and listed by `voiceconsole drill --history`.
    await asyncio.to_thread(save_drill, runtime.settings.data.db, report.to_dict())
    [row] = await asyncio.to_thread(list_drills, runtime.settings.data.db)
    assert (row.drill_id, row.misses, row.score) == (plan.drill_id, 1, report.score)
    assert await asyncio.to_thread(cli.main, ["drill", "--history", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["drill_id"] == plan.drill_id and listed["scenarios"] == 2


"""Run a drill: one scripted simulated call per scenario, one after another, into the running
console, each followed through the admin endpoint's event feed and scored (scoring.py).

A call is a real Twilio-protocol call (console/simulate/caller.py): it rings /voice first when a
Twilio auth token is set, speaks synthesized lines, and carries the `drill` parameters
(marker.py), so the console shows it as a drill and never mistakes it for a caller. After its
lines the caller stays on the line, silent, until the scenario is over: every expected reaction
made, its longest limit past the cue, the call ended, or the cue not come `cue_wait_s` after the
script. Nothing here sleeps to wait for the operator: it wakes on each event, or every
`TICK_S` for the clocks (a cue in silence, a limit running out).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from console.drill.feed import Admin, DrillError, EventFeed, media_info
from console.drill.marker import DRILL_PARAMETER, SCENARIO_PARAMETER
from console.drill.scenarios import Scenario
from console.drill.scoring import DrillReport, ScenarioResult, emergency_cue, score_call
from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance
from console.simulate.voice import render_line_async

log = logging.getLogger(__name__)

TICK_S = 0.1  # how often the clocks are looked at between events
CALLED = "+15550002222"  # the line the drill calls (the console's default `called`)
REPLY_TIMEOUT_S = 15.0  # a greeting can be long; an operator who took over may not answer at all
HANG_UP_WAIT_S = 1.0  # a holding caller takes a frame or two


def new_drill_id() -> str:
    """e.g. drill-20261205T101200-3f (no run of digits a redaction could take for a card)."""
    return f"drill-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(1)}"


@dataclass
class DrillPlan:
    """What to run, where. `auth_token`/`account_sid`: Twilio's, to sign as Twilio would."""

    admin: Admin
    scenarios: list[Scenario]
    auth_token: str | None = None
    account_sid: str | None = None
    render: Callable[[str], Awaitable[bytes]] = render_line_async
    cue_wait_s: float = 20.0
    progress: Callable[[str], None] = lambda line: None
    drill_id: str = field(default_factory=new_drill_id)


async def run_drill(plan: DrillPlan) -> DrillReport:
    """Place every scenario's call in turn and score it; raises DrillError if none can be."""
    started = time.time()
    async with aiohttp.ClientSession() as http:
        info = await media_info(http, plan.admin)
        results = []
        for index, scenario in enumerate(plan.scenarios):
            results.append(await _run_scenario(http, plan, info, scenario, index))
    return DrillReport(plan.drill_id, started, time.time(), tuple(results))


async def _run_scenario(http: aiohttp.ClientSession, plan: DrillPlan, info: dict[str, str],
                        scenario: Scenario, index: int) -> ScenarioResult:
    plan.progress(f"{scenario.title}: calling ({scenario.profile})")
    call = DrillCall(scenario, await _utterances(plan, scenario))
    options = _caller_options(plan, info, scenario, index, call)
    feed = EventFeed(http, plan.admin, options.call_sid)
    await feed.open()
    try:
        result = await call.run(SimulatedCaller(options), feed, plan.cue_wait_s)
    finally:
        await feed.close()
    plan.progress(f"{scenario.title}: {_said(result)}")
    return result


async def _utterances(plan: DrillPlan, scenario: Scenario) -> list[Utterance]:
    audio = await asyncio.gather(*(plan.render(line) for line in scenario.lines))
    return [Utterance(mulaw, label=line[:40]) for mulaw, line in zip(audio, scenario.lines,
                                                                      strict=True)]


def _caller_options(plan: DrillPlan, info: dict[str, str], scenario: Scenario, index: int,
                    call: DrillCall) -> CallerOptions:
    caller = f"+1555019{9000 + index}"  # made up, and the board shows the scenario instead
    options = CallerOptions(
        url=info["media_url"], signed_url=info.get("signed_media_url"),
        auth_token=plan.auth_token, from_number=caller, to_number=CALLED,
        custom_parameters={"caller": caller, "called": CALLED, "profile": scenario.profile,
                           DRILL_PARAMETER: plan.drill_id, SCENARIO_PARAMETER: scenario.name},
        utterances=call.utterances, reply_timeout_s=REPLY_TIMEOUT_S, hold=call.hold,
        max_call_s=_longest_call_s(scenario, plan.cue_wait_s),
    )
    if plan.account_sid:
        options.account_sid = plan.account_sid
    return options


def _longest_call_s(scenario: Scenario, cue_wait_s: float) -> float:
    per_line = 2 * REPLY_TIMEOUT_S + 10  # waiting for a reply, saying the line, a margin
    return len(scenario.lines) * per_line + cue_wait_s + scenario.silence_s \
        + scenario.longest_limit_s + 30


def _said(result: ScenarioResult) -> str:
    if not result.scored:
        return f"not scored ({result.note or 'its cue never came'})"
    return ", ".join(f"{r.name} " + ("MISSED" if r.missed else f"{r.seconds:.1f} s")
                     for r in result.reactions)


class DrillCall:
    """One scenario's call while it runs: when its cue came, and when it is over."""

    def __init__(self, scenario: Scenario, utterances: list[Utterance]) -> None:
        self.scenario = scenario
        self.utterances = utterances
        self._script_done_at: float | None = None  # epoch: the caller started holding
        self._release = asyncio.Event()
        self._caller: SimulatedCaller | None = None

    async def hold(self) -> None:
        """The caller's hold (CallerOptions.hold): the script is done; wait for the end."""
        self._script_done_at = time.time()
        await self._release.wait()

    async def run(self, caller: SimulatedCaller, feed: EventFeed,
                  cue_wait_s: float) -> ScenarioResult:
        self._caller = caller
        calling = asyncio.create_task(caller.run(), name=f"drill-call-{self.scenario.name}")
        try:
            note = await self._watch(calling, feed, cue_wait_s)
        finally:
            self._release.set()  # holding: the caller hangs up now
            await _hang_up(calling, holding=self._script_done_at is not None)
        if not caller.log.connected:
            raise DrillError(f"the drill call could not be placed: "
                             f"{'; '.join(caller.log.errors) or 'no reason given'}")
        return score_call(self.scenario, caller.options.call_sid, self.cue_at(feed), feed.events,
                          note=note)

    async def _watch(self, calling: asyncio.Task[Any], feed: EventFeed, cue_wait_s: float) -> str:
        """Until the scenario is over; returns a note when it ended without its cue."""
        while True:
            if calling.done() or feed.of("CallEnded"):
                return "" if self.cue_at(feed) else "the call ended before its cue"
            cue = self.cue_at(feed)
            if cue is not None and self._finished(cue, feed):
                return ""
            if cue is None and self._cue_overdue(cue_wait_s):
                return f"no cue within {cue_wait_s:g} s of the caller's last line"
            feed.changed.clear()
            try:
                async with asyncio.timeout(TICK_S):
                    await feed.changed.wait()
            except TimeoutError:
                pass  # a clock to look at again

    def _finished(self, cue: float, feed: EventFeed) -> bool:
        if time.time() >= cue + self.scenario.longest_limit_s:
            return True
        result = score_call(self.scenario, "", cue, feed.events)
        return all(r.seconds is not None for r in result.reactions)

    def _cue_overdue(self, cue_wait_s: float) -> bool:
        done = self._script_done_at
        return done is not None and time.time() >= done + cue_wait_s

    def cue_at(self, feed: EventFeed) -> float | None:
        """When the operator's clock started (epoch seconds), if it has."""
        scenario = self.scenario
        if scenario.cue == "emergency":
            return emergency_cue(feed.events)
        if scenario.cue == "line":
            return self._line_end(scenario.cue_line - 1)
        last = self._line_end(len(scenario.lines) - 1)
        due = None if last is None else last + scenario.silence_s
        return due if due is not None and time.time() >= due else None

    def _line_end(self, index: int) -> float | None:
        """When the caller finished saying line `index`, on the wall clock the events use."""
        caller = self._caller
        if caller is None or index >= len(caller.log.speech):
            return None
        ended: float | None = caller.log.speech[index].get("end")  # s after the caller's start
        if ended is None:
            return None
        loop_now = asyncio.get_running_loop().time()
        return time.time() - (loop_now - (caller.started_at + ended))


async def _hang_up(calling: asyncio.Task[Any], *, holding: bool) -> None:
    """A holding caller hangs up by itself; one still in its script (say, waiting for a reply
    the operator's take-over stopped) is cancelled, and its hang-up (`stop`, close) still runs."""
    if holding:
        await asyncio.wait({calling}, timeout=HANG_UP_WAIT_S)
    if not calling.done():
        calling.cancel()
        await asyncio.gather(calling, return_exceptions=True)

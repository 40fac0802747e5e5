"""The runtime's post-call summarizer: a bus subscriber that publishes exactly one
`CallSummarized` for every call that ends.

While a call runs it keeps the call's turns as the bus carries them (text only, a few kB; the
same turns the store writes). That is the transcript the caller and agent actually had, known
the moment `CallEnded` arrives, with no read of the store and no wait for its flush. When the
call ends, a named task owned here decides the summary off the call's path: the model when the
cloud tier has one (bounded by a timeout), else, or when the model fails or answers something
invalid, the profile's rules; a failure says so with a `ProviderDegraded` and a log line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from console import events as ev
from console.profiles import Profile
from console.summary.facts import CallFacts, CallOutcome
from console.summary.llm import (
    SCHEMA_NAME,
    InvalidSummary,
    JsonModel,
    messages_for,
    parse_answer,
    schema_for,
)
from console.summary.rules import summarize_by_rules

log = logging.getLogger(__name__)

ProfileFor = Callable[[str], Awaitable[Profile]]
BeforePublish = Callable[[str], Awaitable[None]]
DRAIN_S = 5.0  # at shutdown, the longest the store waits for summaries still being written
_KEPT = (ev.CallStarted, ev.TurnCompleted, ev.EmergencyDetected, ev.CallEnded)


@dataclass
class _Pending:
    facts: CallFacts
    profile: Profile | None = None
    outcome: CallOutcome | None = None
    drill: str | None = None  # issue 15: the scenario of a drill call (None: a real call)


class Summarizer:
    """Subscribe it to the bus (it is callable). `await drain()` before the store closes."""

    def __init__(self, bus: ev.EventBus, profile_for: ProfileFor, model: JsonModel | None = None,
                 *, timeout_s: float = 15.0, before_publish: BeforePublish | None = None) -> None:
        self._bus = bus
        self._before_publish = before_publish
        self._profile_for = profile_for
        self.model = model
        self._timeout_s = timeout_s
        self._calls: dict[str, CallFacts] = {}
        self._drills: dict[str, str] = {}  # call -> scenario, for calls that are drills
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        """Summaries being written now."""
        return len(self._tasks)

    def __call__(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.DrillCallStarted):
            self._drills[event.call_sid] = event.scenario or event.drill
        if not isinstance(event, _KEPT):
            return
        facts = self._facts_for(event)
        if facts is None:
            return
        facts.note(event)
        if isinstance(event, ev.CallEnded):
            del self._calls[event.call_sid]
            self._spawn(facts)

    def live_facts(self, call_sid: str) -> CallFacts | None:
        """A live call's facts so far, copied (issue 15: its catch-up brief); None: not live."""
        facts = self._calls.get(call_sid)
        if facts is None:
            return None
        return dataclasses.replace(facts, turns=list(facts.turns),
                                   emergencies=list(facts.emergencies))

    def _spawn(self, facts: CallFacts) -> None:
        pending = _Pending(facts, drill=self._drills.pop(facts.call_sid, None))
        task = asyncio.create_task(self._summarize(pending),
                                   name=f"summary:{facts.call_sid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _facts_for(self, event: ev.CallEvent) -> CallFacts | None:
        facts = self._calls.get(event.call_sid)
        if facts is None and isinstance(event, ev.CallStarted | ev.CallEnded):
            # An end with no start seen (we subscribed mid-call) is still summarized.
            facts = self._calls[event.call_sid] = CallFacts(event.call_sid)
        return facts

    async def drain(self, timeout_s: float = DRAIN_S) -> None:
        """Let summaries in progress finish; past `timeout_s` they are cut short, and each
        still publishes (from the rules). Then the store can flush them."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late, timeout=1.0)

    async def aclose(self) -> None:
        if self.model is not None and hasattr(self.model, "aclose"):
            await self.model.aclose()

    # --- one call ----------------------------------------------------------------------------

    async def _summarize(self, pending: _Pending) -> None:
        """Publishes exactly once, whatever happens: a failure or a cancellation at shutdown
        falls back to the rules (or, if even they fail, a bare record of the ending)."""
        try:
            pending.profile = await self._profile_for(pending.facts.profile)
            pending.outcome = await self._decide(pending.facts, pending.profile, pending.drill)
            if self._before_publish is not None:  # e.g. the call's recording being saved
                await self._before_publish(pending.facts.call_sid)
        except asyncio.CancelledError:
            log.warning("summary of %s cut short (shutting down); the profile's rules decided",
                        pending.facts.call_sid)
            raise
        except Exception:
            log.exception("summary of %s failed; using the rules", pending.facts.call_sid)
        finally:
            outcome = pending.outcome or _fallback(pending.facts, pending.profile)
            self._bus.publish(_drill_marked(outcome, pending.drill).event(pending.facts.call_sid))

    async def _decide(self, facts: CallFacts, profile: Profile,
                      drill: str | None = None) -> CallOutcome:
        if self.model is None or drill is not None:  # a drill spends no model tokens
            return summarize_by_rules(facts, profile)
        try:
            async with asyncio.timeout(self._timeout_s):
                text = await self.model.complete_json(
                    messages_for(facts, profile), schema_for(profile), SCHEMA_NAME)
            return parse_answer(text, profile)
        except TimeoutError:
            problem = f"no answer within {self._timeout_s:.0f} s"
        except InvalidSummary as error:
            problem = f"invalid answer: {error}"
        except Exception as error:  # noqa: BLE001 - ProviderError and any SDK surprise alike
            problem = str(error) or type(error).__name__
        self._degraded(facts.call_sid, problem)
        return summarize_by_rules(facts, profile)

    def _degraded(self, call_sid: str, problem: str) -> None:
        log.warning("call %s summary: the model failed (%s); the profile's rules decided",
                    call_sid, problem)
        self._bus.publish(ev.ProviderDegraded(call_sid, provider="summary", problem=problem,
                                              fallback="rules"))


def _drill_marked(outcome: CallOutcome, drill: str | None) -> CallOutcome:
    """Issue 15: a drill's summary says so first, wherever it is read (history, exports)."""
    if drill is None:
        return outcome
    return dataclasses.replace(outcome, summary=f"Drill ({drill}): {outcome.summary}")


def _fallback(facts: CallFacts, profile: Profile | None) -> CallOutcome:
    if profile is not None:
        try:
            return summarize_by_rules(facts, profile)
        except Exception:
            log.exception("the summary rules failed on %s", facts.call_sid)
    reason = facts.end_reason or "unknown"
    disposition = profile.summary.default if profile is not None else "needs-callback"
    return CallOutcome(summary=f"The call ended ({reason}); no summary could be made.",
                       disposition=disposition)

"""The turn-taking bench's callers, in a process of their own (as bench/caller_worker.py is for
the pipeline bench), and the per-event measures taken from what each of them received.

    python bench/turntaking_caller.py ws://127.0.0.1:PORT/media CALLS STAGGER_S MS_PER_CHAR \
        [--stand-in-audio]

Prints JSON: one record per over-talk event, errors per caller, this process's loop lag (it
delays the caller's own receive timestamps, so it bounds how exact barge_in_ms can be).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import random
from dataclasses import dataclass
from typing import Any

from probe_server import LagProbe  # noqa: I001 - bench modules; turntaking_scenario sets sys.path
from turntaking_measure import FrameTable, Heard, Window, measure
from turntaking_scenario import Voice, kind_for, load_voice

from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance
from console.telephony import twilio_protocol as tp

TURNS = 4  # one of each over-talk kind per call
# After the over-talk: this long without agent audio and the turn is over. Longer than any
# resume we mean to see (a server that gives the recogniser 3 s to close a sound must show up as
# a 3 s silence, not as words lost because the caller spoke again first).
QUIET_S = 4.0
QUIET_LIMIT_S = 30.0  # ... unless the agent talks on for this long
REPLY_WAIT_S = 15.0  # the long reply must start this soon after the question
# How far into the long reply (its first frame) the caller starts talking over it: inside its
# first three chunks (1.9, 0.7 and 1.7 s long), so chunks follow the cut one.
AFTER_MS = (1000.0, 3500.0)


@dataclass(frozen=True)
class Turn:
    kind: str
    after_ms: float


class OverTalkCaller(SimulatedCaller):
    """Greeting, then per turn: a question, and one over-talk while the agent's long reply plays,
    then silence until the agent has been quiet for QUIET_S. Keeps every frame it receives and
    where its speaker put it, for the measures."""

    def __init__(self, options: CallerOptions, voice: Voice, turns: list[Turn],
                 table: FrameTable, delay_s: float) -> None:
        super().__init__(options)
        self.voice, self.turns, self.table, self.delay_s = voice, turns, table, delay_s
        self.payloads: list[bytes] = []
        self.placed: list[int] = []
        self.cuts: list[tuple[int, int]] = []
        self.reply_frames_at: list[float] = []  # arrivals of the long reply's frames
        self.reply_starts: list[float | None] = []

    def _on_media(self, payload: bytes, now: int) -> None:
        super()._on_media(payload, now)
        self.payloads.append(payload)
        self.placed.append(self.playout.end - len(payload))
        frame = self.table.identify(payload)
        if frame is not None and frame.role == "reply":
            self.reply_frames_at.append(self.log.received_at[-1])

    async def _on_event(self, event: tp.OutboundEvent) -> None:
        await super()._on_event(event)
        if not isinstance(event, tp.OutboundMedia | tp.OutboundMark):  # a clear
            self.cuts.append((len(self.payloads), len(self.playout.heard)))

    async def _script(self) -> None:
        await self._wait_reply(0.0, self.options.greeting_timeout_s, required=False)
        await asyncio.sleep(self.delay_s)  # independent callers: each starts at its own moment
        for index, turn in enumerate(self.turns):
            if self._closed.is_set():
                return
            await self._turn(index, turn)

    async def _turn(self, index: int, turn: Turn) -> None:
        asked = await self._speak(2 * index, Utterance(self.voice.question, label="question"))
        start = await self._reply_start(asked)
        self.reply_starts.append(start)
        if start is None:
            self.log.errors.append(f"turn {index}: no long reply within {REPLY_WAIT_S:.0f} s")
            return
        # The caller's reaction time into the reply, not synchronisation.
        await asyncio.sleep(max(0.0, start + turn.after_ms / 1000 - self._elapsed()))
        over = Utterance(self.voice.overtalk[turn.kind], barge_in_after_ms=turn.after_ms,
                         wait_for_reply=False, label=turn.kind)
        said = await self._speak(2 * index + 1, over)
        if not await self._wait(lambda: self._quiet_since(said), QUIET_LIMIT_S):
            self.log.errors.append(f"turn {index}: the agent never went quiet after the over-talk")

    async def _reply_start(self, since: float) -> float | None:
        def first_after() -> float | None:
            k = bisect.bisect_right(self.reply_frames_at, since)
            return self.reply_frames_at[k] if k < len(self.reply_frames_at) else None

        await self._wait(lambda: first_after() is not None, REPLY_WAIT_S)
        return first_after()

    def _quiet_since(self, said: float) -> bool:
        quiet = self._elapsed() - max(self._last_arrival, said) >= QUIET_S
        return quiet and self.playout.idle(self._now_sample())

    def heard(self) -> Heard:
        return Heard(self.log.received_at, self.payloads, self.placed, self.log.clears, self.cuts,
                     bytes(self.playout.heard))

    def windows(self) -> list[Window]:
        """One per turn that got its long reply and spoke over it."""
        questions = [r for r in self.log.speech if r["label"] == "question"]
        ends = [r.get("start", self.log.duration) for r in questions[1:]] + [self.log.duration]
        overs = {r["index"] // 2: r for r in self.log.speech if r["barge_in"] and "start" in r}
        return [Window(self.turns[k].kind, start, overs[k]["start"],
                       overs[k].get("end", overs[k]["start"]), ends[k])
                for k, start in enumerate(self.reply_starts)
                if start is not None and k in overs]


def plan(calls: int, stagger_s: float) -> list[tuple[float, list[Turn]]]:
    """Each caller's start delay and turns, seeded by the number of calls: the same every run."""
    rng = random.Random(calls)
    return [(rng.uniform(0, stagger_s),
             [Turn(kind_for(call, turn), rng.uniform(*AFTER_MS)) for turn in range(TURNS)])
            for call in range(calls)]


def events_of(caller: OverTalkCaller, call: int) -> list[dict[str, Any]]:
    heard = caller.heard()
    return [{"call": call, "turn": turn, **measure(heard, caller.table, window)}
            for turn, window in enumerate(caller.windows())]


async def main(url: str, calls: int, stagger_s: float, ms_per_char: float,
               stand_in: bool) -> dict[str, Any]:
    voice, table = load_voice(stand_in), FrameTable(ms_per_char)
    callers = [OverTalkCaller(CallerOptions(url=url, reply_timeout_s=REPLY_WAIT_S),
                              voice, turns, table, delay)
               for delay, turns in plan(calls, stagger_s)]
    probe = LagProbe()
    probing = asyncio.create_task(probe.run(), name="callers-lag-probe")
    await asyncio.gather(*(c.run() for c in callers))
    probing.cancel()
    return {
        "events": [e for n, c in enumerate(callers) for e in events_of(c, n)],
        "errors": [c.log.errors for c in callers],
        "loop_lag_ms": probe.summary(),
        "audio": voice.source,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("calls", type=int)
    parser.add_argument("stagger_s", type=float)
    parser.add_argument("ms_per_char", type=float)
    parser.add_argument("--stand-in-audio", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(args.url, args.calls, args.stagger_s, args.ms_per_char,
                              args.stand_in_audio))
    print(json.dumps(result))

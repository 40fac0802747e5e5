"""RedactingStore: the storage boundary, where what a profile says must never be kept (cards,
SSNs, dates of birth, keypad digits after a sensitive prompt) is taken out of every event on its
way to the StoreWriter.

It is the bus subscriber the runtime gives the store. Only storage sees its output: the session,
triage and the console get the raw events (an emergency phrase next to a card number is still
heard, and the operator on the call sees what the caller said), while history, exports and the
webhook, which read the store, never see the raw text. For each caller span it hid, it publishes
`CallerSpanRedacted`, so the recording mutes that stretch of the caller's channel.

Each call's state is tiny (its policy, the agent's last line, the keypad guard) and kept for the
last `remember` calls, because events still come after `CallEnded` (the summary, the recording).
Runs on the event loop: a turn's text costs microseconds to scan, and the spans must be
published in order with the turn they belong to.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console import events as ev
from console.redaction import KINDS, LABELS, KeypadGuard, Redacted, redact

Subscriber = Callable[[ev.CallEvent], None]

# Fields that name things (ids, dialled numbers, states, outcomes), never words someone said or
# keyed: left as they are. Every other text field of every event is redacted.
_NOT_WORDS = frozenset({
    "stream_sid", "from_number", "to_number", "profile", "role", "state", "kind", "source",
    "cause", "outcome", "target", "path", "level", "disposition", "action", "actor", "provider",
    "fallback", "where", "rule", "digit", "what",
})  # fmt: skip
# The recording mutes this much either side of where the words most likely were: a turn event
# carries no word timings, so a redacted stretch is placed by its share of the turn's characters.
SPAN_PAD_S = 0.75
# Twilio reports a key once its tone is recognised (a tone lasts at least 40 ms, ITU-T Q.24; a
# finger holds one for 100-300 ms): the tone is in the caller's audio before the event.
DTMF_TONE_BEFORE_S = 0.5
DTMF_TONE_AFTER_S = 0.2


# Of the sentences queued since the agent's last finished turn, the last this many characters are
# the context of the caller's answer (a question is the end of what the agent says).
SAYING_KEPT = 400


@dataclass(frozen=True)
class RedactionPolicy:
    kinds: frozenset[str] = frozenset()
    sensitive_prompts: tuple[str, ...] = ()


EVERYTHING = RedactionPolicy(frozenset(KINDS))
PolicyFor = Callable[[str | None], RedactionPolicy]  # a profile name (None: not known) -> policy


class _Call:
    def __init__(self, policy: RedactionPolicy, *, keypad: bool = True) -> None:
        self.policy = policy
        self.kinds = policy.kinds
        self.keypad = (KeypadGuard(policy.sensitive_prompts)
                       if keypad and "dtmf" in policy.kinds else None)
        self.last_turn = ""  # the agent's (or operator's) last finished turn, raw
        self.saying = ""  # sentences queued since then, raw

    def prompt(self) -> str:
        return f"{self.last_turn} {self.saying}"


class RedactingStore:
    """Subscribe it to the bus in place of `store`; `publish` is the bus's, for the spans."""

    def __init__(self, store: Subscriber, publish: Subscriber, policy_for: PolicyFor,
                 *, remember: int = 512) -> None:
        self._store = store
        self._publish = publish
        self._policy_for = policy_for
        self._policies: dict[RedactionPolicy, RedactionPolicy] = {}
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self._remember = remember

    def __call__(self, event: ev.CallEvent) -> None:
        if isinstance(event, ev.CallerTranscribed) and not event.final:
            return  # interim words are never stored (the writer drops them too)
        call = self._call_for(event)
        spans: list[ev.CallerSpanRedacted] = []
        stored = self._redacted(call, event, spans) if call.kinds else event
        self._store(stored)
        for span in spans:
            self._publish(span)
        if isinstance(event, ev.CallSummarized):
            self._settle(event.call_sid, call)

    def _settle(self, call_sid: str, call: _Call) -> None:
        """The call's summary is its last word but for operator edits: only its policy is kept
        (shared, not a copy), so a burst of calls leaves nothing of theirs scattered on the heap."""
        self._calls[call_sid] = _Call(call.policy, keypad=False)

    def _policy(self, profile: str | None) -> RedactionPolicy:
        """The profile's policy as it is now (an edited profile applies to the next call), but
        one object per distinct policy: calls share it instead of each keeping a copy."""
        policy = self._policy_for(profile)
        return self._policies.setdefault(policy, policy)

    def _call_for(self, event: ev.CallEvent) -> _Call:
        if isinstance(event, ev.CallStarted):
            self._calls[event.call_sid] = _Call(self._policy(event.profile or None))
        call = self._calls.get(event.call_sid)
        if call is None:  # never saw it start (a restart): the default profile's policy
            call = self._calls[event.call_sid] = _Call(self._policy(None))
        self._calls.move_to_end(event.call_sid)
        while len(self._calls) > self._remember:
            self._calls.popitem(last=False)
        return call

    def _redacted(self, call: _Call, event: ev.CallEvent,
                  spans: list[ev.CallerSpanRedacted]) -> ev.CallEvent:
        if isinstance(event, ev.DtmfPressed):
            return _keypad(call, event, spans)
        if isinstance(event, ev.TurnCompleted) and event.role == "caller":
            return _caller_turn(call, event, spans)
        stored = _words_redacted(call, event)
        _agent_heard(call, event)
        return stored


def _keypad(call: _Call, event: ev.DtmfPressed, spans: list[ev.CallerSpanRedacted]) -> ev.CallEvent:
    if call.keypad is None or not call.keypad.pressed(event.digit, event.at):
        return event
    spans.append(ev.CallerSpanRedacted(event.call_sid, started=event.at - DTMF_TONE_BEFORE_S,
                                       ended=event.at + DTMF_TONE_AFTER_S, what="dtmf"))
    return dataclasses.replace(event, digit=LABELS["dtmf"])


def _caller_turn(call: _Call, event: ev.TurnCompleted,
                 spans: list[ev.CallerSpanRedacted]) -> ev.CallEvent:
    result = redact(event.text, call.kinds, call.prompt())
    spans += caller_spans(event, result)
    return dataclasses.replace(event, text=result.text) if result.found else event


def caller_spans(turn: ev.TurnCompleted, result: Redacted) -> list[ev.CallerSpanRedacted]:
    """Where in the turn each redacted stretch was most likely said: placed by its share of the
    turn's characters, padded by SPAN_PAD_S, never outside the turn."""
    duration = max(0.0, turn.ended - turn.started)
    length = max(1, result.length)
    return [ev.CallerSpanRedacted(
        turn.call_sid, what=found.kind,
        started=max(turn.started, turn.started + duration * found.start / length - SPAN_PAD_S),
        ended=min(turn.ended, turn.started + duration * found.end / length + SPAN_PAD_S),
    ) for found in result.found]


def _agent_heard(call: _Call, event: ev.CallEvent) -> None:
    """Agent and operator lines are the context of what the caller says next (a question that
    asks for a date of birth) and may open the keypad guard."""
    if isinstance(event, ev.AgentSpoke):
        call.saying = f"{call.saying} {event.text}"[-SAYING_KEPT:]
    elif isinstance(event, ev.TurnCompleted):
        call.last_turn, call.saying = event.text, ""
    else:
        return
    if call.keypad is not None:
        call.keypad.agent_said(event.text, event.at)


def _words_redacted(call: _Call, event: ev.CallEvent) -> ev.CallEvent:
    """Every field that may hold words, with what must not be stored taken out."""
    prompt = call.prompt()
    changes = {}
    for field in dataclasses.fields(event):
        if field.name in _NOT_WORDS or field.name in ("call_sid", "at"):
            continue
        value = getattr(event, field.name)
        cleaned = _cleaned(value, call.kinds, prompt)
        if cleaned is not value:
            changes[field.name] = cleaned
    return dataclasses.replace(event, **changes) if changes else event


def _cleaned(value: Any, kinds: frozenset[str], prompt: str) -> Any:
    """`value` with its text redacted, or `value` itself when nothing changed. Inside a sequence,
    a (name, value) pair of strings is a labelled value (a summary's extracted field), as is each
    item of a dict: the name is the question the value answers ("date_of_birth" makes any date
    in it a date of birth)."""
    if isinstance(value, str):
        result = redact(value, kinds, prompt)
        return result.text if result.found else value
    if isinstance(value, (tuple, list)):
        items = [_labelled(item, kinds, prompt) if _is_pair(item) else _cleaned(item, kinds, prompt)
                 for item in value]
        same = all(new is old for new, old in zip(items, value, strict=True))
        return value if same else type(value)(items)
    if isinstance(value, dict):
        pairs = {key: _labelled((key, item), kinds, prompt) if _is_pair((key, item))
                 else (key, _cleaned(item, kinds, prompt)) for key, item in value.items()}
        same = all(pairs[key][1] is item for key, item in value.items())
        return value if same else {key: pair[1] for key, pair in pairs.items()}
    return value


def _is_pair(value: Any) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(item, str) for item in value))


def _labelled(pair: tuple[str, str], kinds: frozenset[str], prompt: str) -> tuple[str, str]:
    name, text = pair
    cleaned = _cleaned(text, kinds, f"{name.replace('_', ' ')} {prompt}")
    return pair if cleaned is text else (name, cleaned)

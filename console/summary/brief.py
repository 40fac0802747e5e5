"""Catch-up on join (issue 15): one line saying what a live call is about so far.

The same two tiers as the post-call summary: the deterministic extract (the profile's fields,
the caller's first and latest words, any emergency) always, at once; on the cloud tier the
summary model is then asked for one sentence (the summary's `JsonModel`, a JSON schema of one
string), bounded by `BRIEF_TIMEOUT_S`. A model that fails, times out or answers something that
is not one line leaves the extract shown, with why.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from console.profiles import Profile
from console.summary.facts import CallFacts
from console.summary.llm import JsonModel
from console.summary.rules import extract_fields

log = logging.getLogger(__name__)

SCHEMA_NAME = "call_brief"
MAX_BRIEF_CHARS = 220  # one line of a wide terminal; the model is asked for 25 words
QUOTE_WORDS = 8
MAX_TRANSCRIPT_CHARS = 6_000  # ~1.5k tokens, the newest kept: the brief is about now
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"brief": {"type": "string", "description": "one sentence, at most 25 words"}},
    "required": ["brief"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class CallBrief:
    text: str
    source: str  # "llm" (the model) or "rules" (the deterministic extract)
    problem: str = ""  # why the model's brief is not the one shown
    pending: bool = False  # the extract, shown while the model is asked


# --- the deterministic extract ----------------------------------------------------------------


def brief_by_rules(facts: CallFacts, profile: Profile, now: float) -> str:
    """`0:42 in · Ana Ruiz · EMERGENCY "chest pain" · asked: "…" · now: "…" · time: Friday`."""
    fields = extract_fields(facts.caller_turns(), profile.summary.fields)
    parts = [f"{_clock(now - facts.started)} in"]
    if name := fields.pop("name", None):
        parts.append(name)
    if facts.emergencies:
        parts.append(f"EMERGENCY “{facts.emergencies[-1]}”")
    parts += _said(facts.caller_turns())
    parts += [f"{rule.label}: {fields[rule.name]}" for rule in profile.summary.fields
              if rule.name in fields]  # in the profile's order
    return _one_line(" · ".join(parts))


def _said(turns: list[str]) -> list[str]:
    if not turns:
        return ["the caller has not spoken yet"]
    first = f"asked: “{_quote(turns[0])}”"
    return [first] if len(turns) == 1 else [first, f"now: “{_quote(turns[-1])}”"]


def _clock(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def _quote(text: str) -> str:
    words = text.split()
    return " ".join(words[:QUOTE_WORDS]) + ("…" if len(words) > QUOTE_WORDS else "")


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_BRIEF_CHARS else text[: MAX_BRIEF_CHARS - 1] + "…"


# --- the model ----------------------------------------------------------------------------------


def messages_for(facts: CallFacts, profile: Profile, now: float) -> list[dict[str, str]]:
    lines = "\n".join(f"{role}: {text}" for role, text in facts.turns)
    transcript = lines[-MAX_TRANSCRIPT_CHARS:] or "(nobody has said anything yet)"
    emergency = f" An emergency was detected ({', '.join(facts.emergencies)})." \
        if facts.emergencies else ""
    instructions = (
        f"A supervisor is joining a live phone call to the {profile.title} line. Brief them in "
        "ONE sentence of at most 25 words: who is calling, what they want, where the call "
        "stands now, and anything urgent. Use only what was said. Answer with JSON only.")
    call = (f"The call has lasted {_clock(now - facts.started)} so far.{emergency}\n"
            f"Transcript so far (newest last):\n{transcript}")
    return [{"role": "system", "content": instructions}, {"role": "user", "content": call}]


def parse_brief(text: str) -> str:
    """The model's JSON answer as one line; raises ValueError when it is not one."""
    try:
        brief = json.loads(text).get("brief")
    except (json.JSONDecodeError, TypeError, AttributeError) as error:
        raise ValueError(f"not a JSON object ({error})") from error
    if not isinstance(brief, str) or not brief.strip():
        raise ValueError("no brief in the answer")
    return _one_line(re.sub(r"\s+", " ", brief))


# --- both, for a live call ------------------------------------------------------------------------

FactsFor = Callable[[str], CallFacts | None]
ProfileFor = Callable[[str], Awaitable[Profile]]


class Briefer:
    def __init__(self, facts_for: FactsFor, profile_for: ProfileFor, model: JsonModel | None,
                 *, timeout_s: float = 6.0, clock: Callable[[], float] = time.time) -> None:
        self._facts_for, self._profile_for = facts_for, profile_for
        self.model = model
        self._timeout_s = timeout_s
        self._clock = clock

    async def briefs(self, call_sid: str) -> AsyncIterator[CallBrief]:
        """The extract at once, then (cloud tier) the model's line or why there is none.
        Raises LookupError for a call that is not live."""
        facts = self._facts_for(call_sid)
        if facts is None:
            raise LookupError(f"no live call {call_sid}")
        profile = await self._profile_for(facts.profile)
        now = self._clock()
        extract = brief_by_rules(facts, profile, now)
        yield CallBrief(extract, "rules", pending=self.model is not None)
        if self.model is not None:
            yield await self._ask(self.model, facts, profile, now, extract)

    async def _ask(self, model: JsonModel, facts: CallFacts, profile: Profile, now: float,
                   extract: str) -> CallBrief:
        try:
            async with asyncio.timeout(self._timeout_s):
                answer = await model.complete_json(messages_for(facts, profile, now), SCHEMA,
                                                   SCHEMA_NAME)
            return CallBrief(parse_brief(answer), "llm")
        except TimeoutError:
            problem = f"no answer within {self._timeout_s:g} s"
        except Exception as error:  # noqa: BLE001 - ProviderError, a bad answer, any surprise
            problem = str(error) or type(error).__name__
        log.warning("catch-up brief of %s: the model failed (%s); the extract is shown",
                    facts.call_sid, problem)
        return CallBrief(extract, "rules", problem=problem)

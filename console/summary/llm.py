"""The cloud tier's summary: what the model is asked (a prompt and a JSON schema built from the
profile) and how its answer is checked. Pure; the request itself is a `JsonModel`'s job.

The schema is strict-mode ready (Groq's structured outputs: every property required, no
additional properties, absent fields as null), and the answer is checked anyway, because only
some models decode under the schema and the rest are best-effort.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from console.profiles import Profile
from console.summary.facts import MAX_SENTENCES, CallFacts, CallOutcome, sentence_count

SCHEMA_NAME = "call_summary"
MAX_ACTION_ITEMS = 5
MAX_ITEM_CHARS = 200
MAX_SUMMARY_CHARS = 600
MAX_TRANSCRIPT_CHARS = 12_000  # ~3k tokens: a long call is cut from the middle, not the end


class JsonModel(Protocol):
    """Answers one chat request with a JSON document shaped by `schema` (the text of it).
    Raises ProviderError (console.providers.base) when it cannot."""

    async def complete_json(self, messages: list[dict[str, str]], schema: dict[str, Any],
                            name: str) -> str: ...


class InvalidSummary(ValueError):
    """The model's answer is not a summary this profile accepts; says what is wrong."""


def schema_for(profile: Profile) -> dict[str, Any]:
    rules = profile.summary
    fields = {f.name: {"type": ["string", "null"], "description": f.label} for f in rules.fields}
    return {
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": f"at most {MAX_SENTENCES} sentences"},
            "disposition": {"type": "string", "enum": list(rules.dispositions)},
            "action_items": {"type": "array", "items": {"type": "string"}},
            "fields": {"type": "object", "properties": fields, "required": list(fields),
                       "additionalProperties": False},
        },
        "required": ["summary", "disposition", "action_items", "fields"],
        "additionalProperties": False,
    }


def messages_for(facts: CallFacts, profile: Profile) -> list[dict[str, str]]:
    return [{"role": "system", "content": _instructions(profile)},
            {"role": "user", "content": _call_text(facts)}]


def _instructions(profile: Profile) -> str:
    rules = profile.summary
    fields = ", ".join(f"{f.name} ({f.label})" for f in rules.fields) or "none"
    return (
        f"You write the record of a finished phone call to the {profile.title} line, for the "
        "staff who follow it up. Answer with JSON only, matching the schema.\n"
        f"- summary: at most {MAX_SENTENCES} short sentences: who called, what they wanted, "
        "what was agreed.\n"
        f"- disposition: exactly one of {', '.join(rules.dispositions)}; "
        f"use {rules.default} when none fits.\n"
        f"- action_items: up to {MAX_ACTION_ITEMS} things staff must do next (may be empty).\n"
        f"- fields: {fields}. Use what the caller said; null when they did not say it. "
        "Never invent a value."
    )


def _call_text(facts: CallFacts) -> str:
    lines = [f"{role}: {text}" for role, text in facts.turns]
    transcript = "\n".join(lines) or "(nobody said anything)"
    if len(transcript) > MAX_TRANSCRIPT_CHARS:
        half = MAX_TRANSCRIPT_CHARS // 2
        transcript = f"{transcript[:half]}\n[…]\n{transcript[-half:]}"
    notes = [f"The call lasted {facts.seconds:.0f} seconds and ended: {facts.end_reason}."]
    if facts.emergencies:
        notes.append(f"An emergency was detected ({', '.join(facts.emergencies)}).")
    return "Transcript:\n" + transcript + "\n\n" + " ".join(notes)


def parse_answer(text: str, profile: Profile) -> CallOutcome:
    """The model's JSON as an outcome; raises InvalidSummary. Unknown fields are dropped."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as error:
        raise InvalidSummary(f"not JSON ({error})") from error
    if not isinstance(data, dict):
        raise InvalidSummary("not a JSON object")
    return CallOutcome(summary=_summary(data.get("summary")),
                       disposition=_disposition(data.get("disposition"), profile),
                       action_items=_actions(data.get("action_items")),
                       fields=_fields(data.get("fields"), profile), source="llm")


def _summary(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidSummary("no summary")
    text = " ".join(value.split())
    if sentence_count(text) > MAX_SENTENCES or len(text) > MAX_SUMMARY_CHARS:
        raise InvalidSummary(f"the summary is longer than {MAX_SENTENCES} sentences")
    return text


def _disposition(value: Any, profile: Profile) -> str:
    allowed = profile.summary.dispositions
    if value not in allowed:
        raise InvalidSummary(f"disposition {str(value)[:40]!r} is not one of {', '.join(allowed)}")
    return str(value)


def _actions(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidSummary("action_items is not a list of strings")
    items = (" ".join(item.split())[:MAX_ITEM_CHARS] for item in value)
    return tuple(item for item in items if item)[:MAX_ACTION_ITEMS]


def _fields(value: Any, profile: Profile) -> tuple[tuple[str, str], ...]:
    """The profile's fields in its order; unknown names, nulls and non-strings dropped."""
    if not isinstance(value, dict):
        return ()
    found = []
    for rule in profile.summary.fields:
        text = value.get(rule.name)
        if isinstance(text, str | int | float) and not isinstance(text, bool):
            text = " ".join(str(text).split())[:MAX_ITEM_CHARS]
            if text:
                found.append((rule.name, text))
    return tuple(found)

"""The deterministic extractor: a call's facts and its profile's `[summary]` rules in, a summary
out. Pure: the same call always gets the same summary, so the embedded demo shows one too and a
failed model has something to fall back to.
"""

from __future__ import annotations

import re

from console.profile_summary import DispositionRule, FieldRule, SummaryRules, fill
from console.profiles import Profile, normalize
from console.providers.scripted import capture_name, capture_number, word_matches
from console.summary.facts import CallFacts, CallOutcome

# A callback number has at least 7 digits (a local US number); fewer is a time, a date or an id.
MIN_PHONE_DIGITS = 7
QUOTE_WORDS = 12  # the caller's first words quoted in the summary, at most


def summarize_by_rules(facts: CallFacts, profile: Profile) -> CallOutcome:
    rules = profile.summary
    fields = extract_fields(facts.caller_turns(), rules.fields)
    values = _placeholders(facts, fields, rules)
    rule = choose_rule(facts, fields, rules)
    disposition = rule.disposition if rule else rules.default
    values["disposition"] = disposition
    outcome = (rule.outcome if rule and rule.outcome else
               rules.default_outcome if rule is None else f"Outcome: {disposition}.")
    actions = rule.actions if rule else rules.default_actions
    return CallOutcome(
        summary=_summary(facts, profile, fill(outcome, values), values["caller"]),
        disposition=disposition,
        action_items=tuple(_sentence(fill(action, values)) for action in actions),
        fields=tuple((f.name, fields[f.name]) for f in rules.fields if f.name in fields),
        source="rules",
    )


# --- fields -------------------------------------------------------------------------------------


def extract_fields(caller_turns: list[str], wanted: tuple[FieldRule, ...]) -> dict[str, str]:
    """Each field's value in the caller's turns; a later turn's value replaces an earlier one
    (a caller who corrects themselves)."""
    found: dict[str, str] = {}
    for text in caller_turns:
        for rule in wanted:
            if value := _extract(rule, text):
                found[rule.name] = value
    return found


def _extract(rule: FieldRule, text: str) -> str | None:
    if rule.kind == "name":
        return capture_name(text)
    if rule.kind == "phone":
        return _phone(text)
    for pattern in rule.patterns:
        if match := pattern.search(text):
            value = match.groupdict().get("value") or next(g for g in match.groups() if g)
            return _tidy(value)
    return None


def _phone(text: str) -> str | None:
    # Written numbers keep their digits whatever the separators ("555-123 4567").
    written = re.sub(r"(?<=\d)[\s().-]+(?=\d)", "", text)
    number = capture_number(written)
    if number is None:
        return None
    digits = "".join(re.findall(r"\d", number))
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def _tidy(value: str) -> str:
    return " ".join(value.split()).strip(" ,.;:!?")


# --- disposition --------------------------------------------------------------------------------


def choose_rule(facts: CallFacts, fields: dict[str, str], rules: SummaryRules
                ) -> DispositionRule | None:
    """The first rule whose every condition holds, or None (the profile's default)."""
    said = [normalize(text).split() for text in facts.caller_turns()]
    for rule in rules.rules:
        if _holds(rule, facts, fields, said):
            return rule
    return None


def _holds(rule: DispositionRule, facts: CallFacts, fields: dict[str, str],
           said: list[list[str]]) -> bool:
    checks = (
        rule.emergency is None or rule.emergency == bool(facts.emergencies),
        rule.caller_silent is None or rule.caller_silent == (not said),
        rule.shorter_than_s is None or facts.seconds < rule.shorter_than_s,
        all(name in fields for name in rule.requires),
        not rule.keywords or any(_said(keyword, said) for keyword in rule.keywords),
    )
    return all(checks)


def _said(keyword: str, said: list[list[str]]) -> bool:
    """Fuzzy, as the scripted responder hears keywords: "booking" is "book"."""
    wanted = normalize(keyword).split()
    span = len(wanted)
    return any(
        all(word_matches(words[start + k], wanted[k]) for k in range(span))
        for words in said
        for start in range(len(words) - span + 1)
    )


# --- words --------------------------------------------------------------------------------------


def _placeholders(facts: CallFacts, fields: dict[str, str], rules: SummaryRules
                  ) -> dict[str, str]:
    values = dict(fields)
    values["caller"] = fields.get("name") or "the caller"
    values["emergency"] = facts.emergencies[0] if facts.emergencies else ""
    return values


def _summary(facts: CallFacts, profile: Profile, outcome: str, caller: str) -> str:
    """At most three sentences: who called which line, the outcome, and their first words."""
    who = caller[:1].upper() + caller[1:]
    parts = [f"{who} called the {profile.title} line.", _sentence(outcome)]
    turns = facts.caller_turns()
    if turns:
        parts.append(f"They began: “{_quote(turns[0])}”.")
    return " ".join(parts)


def _quote(text: str) -> str:
    """The first words, without sentence stops: the quote stays inside one sentence."""
    words = re.sub(r"[.!?]+", "", text).split()
    more = "…" if len(words) > QUOTE_WORDS else ""
    return " ".join(words[:QUOTE_WORDS]) + more


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return text
    text = text[:1].upper() + text[1:]
    return text if text[-1] in ".!?" else f"{text}."

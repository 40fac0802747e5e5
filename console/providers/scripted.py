"""The scripted responder: a deterministic, offline LanguageModel driven by a profile's
`[responder]` section. It keeps demos and tests running with no LLM at all.

It reads only the last user message (plus the name and number captured from earlier user
messages), so one instance serves any number of calls. Keywords match fuzzily because speech
recognition makes small errors ("apointment", "bok").
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from difflib import SequenceMatcher

from console.profiles import Intent, Profile, ResponderScript, match_phrases, normalize
from console.providers.base import ChatMessage, ProviderObserver

# A word matches a keyword when difflib's ratio is above 0.8: "bok"/"book" is 0.86 and
# "apointment"/"appointment" 0.95, while "look"/"book" (0.75) and "hours"/"house" (0.8) stay apart.
_FUZZY_RATIO = 0.8
_MIN_FUZZY_KEYWORD = 4  # "bye", "fee": too short to guess at, they must match exactly
_INFLECTIONS = ("s", "es", "d", "ed", "led", "ing", "ling", "ment", "er")

_NAME_LEAD = re.compile(r"\b(?:my name is|my names|name is|call me)\b ((?:[a-z]+ ?){1,3})")
_NOT_NAME = frozenset(
    "and i im my from the a an here speaking please to with about at on calling for but so "
    "uh um is it its".split()
)

_UNITS = "zero one two three four five six seven eight nine".split()
_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = {
    word: 10 * (index + 2)
    for index, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())
}
_ORDINAL_WORDS = (
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth"
)
_ORDINALS = {word: index + 1 for index, word in enumerate(_ORDINAL_WORDS.split())}
_MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)


class ScriptedResponder:
    """`LanguageModel` over a profile's script. Raises nothing: an unmatched turn gets the
    fallback line."""

    tier = "scripted"

    def __init__(self, profile: Profile, observer: ProviderObserver | None = None) -> None:
        self.profile = profile
        self.observer = observer  # a script costs nothing, so it never reports usage

    async def reply(
        self, messages: Sequence[ChatMessage], observer: ProviderObserver | None = None
    ) -> AsyncIterator[str]:
        """Yield the answer word by word (leading spaces included, like LLM tokens), giving the
        loop a turn before each, as a streamed reply does: a barge-in that cancels the reply
        after its first word then stops it there, instead of finding it already finished."""
        for index, word in enumerate(self.respond(messages).split()):
            await asyncio.sleep(0)
            yield word if index == 0 else f" {word}"

    def respond(self, messages: Sequence[ChatMessage]) -> str:
        """The whole answer to the last user message."""
        said = [m.content for m in messages if m.role == "user"]
        last = said[-1] if said else ""
        slots = captured_slots(said)
        return _render(_choose_template(self.profile, last), slots, self.profile.responder)


def _choose_template(profile: Profile, text: str) -> str:
    script = profile.responder
    intent = best_intent(profile, text)
    if intent is not None:
        return intent.reply
    if capture_name(text):
        return script.name_reply
    if capture_number(text):
        return script.number_reply
    return script.fallback


# ---------------------------------------------------------------------------------------------
# Intents


def best_intent(profile: Profile, text: str) -> Intent | None:
    """An urgent intent that matches wins; otherwise the most keyword words, earliest on ties."""
    words = normalize(text).split()
    best: Intent | None = None
    best_score = 0
    for intent in profile.responder.intents:
        score = _score(profile, intent, text, words)
        if score and intent.urgent:
            return intent
        if score > best_score:
            best, best_score = intent, score
    return best


def _score(profile: Profile, intent: Intent, text: str, words: list[str]) -> int:
    score = sum(_keyword_weight(keyword, text, words) for keyword in intent.keywords)
    if intent.use_emergency_phrases and profile.match_caller_emergency(text):
        score += 1
    return score


def _keyword_weight(keyword: str, text: str, words: list[str]) -> int:
    if keyword.startswith("re:"):
        return 1 if match_phrases(text, (keyword,)) else 0
    wanted = normalize(keyword).split()
    return len(wanted) if _contains_phrase(words, wanted) else 0


def _contains_phrase(words: list[str], wanted: list[str]) -> bool:
    span = len(wanted)
    return any(
        all(word_matches(words[start + k], wanted[k]) for k in range(span))
        for start in range(len(words) - span + 1)
    )


def word_matches(word: str, keyword: str) -> bool:
    """Exact, an inflection ("booking", "cancelled"), or one small slip of the recogniser."""
    if word == keyword:
        return True
    if len(keyword) < _MIN_FUZZY_KEYWORD or len(word) < 3:
        return False
    if word.startswith(keyword) and word[len(keyword) :] in _INFLECTIONS:
        return True
    # Recognisers rarely get the first sound wrong; this keeps "cook" from meaning "book".
    return word[0] == keyword[0] and SequenceMatcher(None, word, keyword).ratio() > _FUZZY_RATIO


# ---------------------------------------------------------------------------------------------
# Slots


def captured_slots(user_turns: Sequence[str]) -> dict[str, str]:
    """Name and number from the caller's turns; a later capture replaces an earlier one."""
    slots: dict[str, str] = {}
    for text in user_turns:
        for slot, value in (("name", capture_name(text)), ("number", capture_number(text))):
            if value:
                slots[slot] = value
    return slots


def capture_name(text: str) -> str | None:
    """The name after "my name is" (or "call me"), up to three words: "Jane Doe"."""
    found = _NAME_LEAD.search(normalize(text))
    if not found:
        return None
    name: list[str] = []
    for word in found.group(1).split():
        if word in _NOT_NAME:
            break
        name.append(word.capitalize())
    return " ".join(name) or None


def capture_number(text: str) -> str | None:
    """The longest run of numbers (digits or spoken) in `text`, readable back to the caller:
    "five five five one two one two" -> "5551212", "march third nineteen eighty" ->
    "March 3 19 80" (which TTS reads as "March three nineteen eighty")."""
    runs = [run for run in _number_runs(normalize(text).split()) if _has_digit(run)]
    if not runs:
        return None
    return _join_run(max(runs, key=lambda run: sum(len(piece) for piece in run)))


def _number_runs(words: list[str]) -> list[list[str]]:
    runs: list[list[str]] = [[]]
    index = 0
    while index < len(words):
        piece, used = _number_at(words, index)
        if piece is None:
            runs.append([])
            index += 1
        else:
            runs[-1].append(piece)
            index += used
    return [run for run in runs if run]


def _number_at(words: list[str], index: int) -> tuple[str | None, int]:
    """One number piece starting at words[index] and how many words it used. Single spoken digits
    come back as "#d" so that a run of them joins into one digit string."""
    word = words[index]
    following = words[index + 1] if index + 1 < len(words) else ""
    if re.fullmatch(r"\d+(?:st|nd|rd|th)?", word):
        return re.sub(r"\D", "", word), 1
    if word in _UNITS:
        return f"#{_UNITS.index(word)}", 1
    if word in ("oh", "o") and (following in _UNITS or following in ("oh", "o")):
        return "#0", 1  # "oh" is a zero only inside a run of digits ("five oh two")
    if word in _TENS:
        return _tens(word, following)
    if word in _TEENS:
        return str(10 + _TEENS.index(word)), 1
    if word in _ORDINALS:
        return str(_ORDINALS[word]), 1
    if word in _MONTHS:
        return word.capitalize(), 1
    return None, 1


def _tens(word: str, following: str) -> tuple[str, int]:
    if following in _UNITS[1:]:
        return str(_TENS[word] + _UNITS.index(following)), 2
    if following in _ORDINALS and _ORDINALS[following] < 10:
        return str(_TENS[word] + _ORDINALS[following]), 2  # "twenty third"
    return str(_TENS[word]), 1


def _has_digit(run: list[str]) -> bool:
    # Two digits at least: a lone "one" ("the one on Friday") is not a number worth reading back.
    return sum(ch.isdigit() for piece in run for ch in piece) >= 2


def _join_run(run: list[str]) -> str:
    """Spoken single digits join into one string ("5", "5", "5" -> "555"); the rest stay words."""
    out: list[str] = []
    joining = False
    for piece in run:
        spoken_digit = piece.startswith("#")
        if spoken_digit and joining:
            out[-1] += piece[1:]
        else:
            out.append(piece.lstrip("#"))
        joining = spoken_digit
    return " ".join(out)


# ---------------------------------------------------------------------------------------------
# Rendering


def _render(template: str, slots: dict[str, str], script: ResponderScript) -> str:
    text = template.replace("{next}", _next_question(slots, script))
    for slot in ("name", "number"):
        if slot in slots:
            text = text.replace(f"{{{slot}}}", slots[slot])
        else:
            # "Thanks, {name}." -> "Thanks." when the caller has not said their name.
            text = re.sub(rf"\s*,?\s*\{{{slot}\}}", "", text)
    return " ".join(text.split())


def _next_question(slots: dict[str, str], script: ResponderScript) -> str:
    for slot, question in script.asks:
        if slot not in slots:
            return question
    return script.done

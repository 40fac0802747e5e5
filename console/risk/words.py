"""The text rules of the risk score: near misses of emergency phrases, angry words, a question
asked again, an agent line that apologizes or falls back. All on normalized words (lower case,
apostrophes dropped, punctuation gone), as triage matches phrases (console/profiles.py)."""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from functools import lru_cache

# How alike two words must be (difflib's ratio) to count as a misheard one: "pains"/"pain" 0.89,
# "breath"/"breathe" 0.92, "hart"/"heart" 0.89; "strike"/"stroke" (0.83) and "can"/"cant" (0.86)
# stay apart: short words must match exactly (FUZZY_MIN_CHARS).
NEAR_MISS_CUTOFF = 0.87
FUZZY_MIN_CHARS = 4
# Caller turns with fewer content words than this are not questions worth comparing ("yes").
QUESTION_MIN_WORDS = 2
SAME_QUESTION = 0.6  # shared content words over all of them (Jaccard) for "the same question"
# Words that say nothing about what was asked: "can you tell me when you open" and "when do you
# open" are the same question.
STOP_WORDS = frozenset(
    "a an and are be can could do does for from have how i im is it its me my of on or please "
    "so that the there this to uh um we what when where which who why will with would you your "
    "yes no ok okay yeah thanks thank hi hello hey just like tell know want need get".split())
# Agent lines that apologize or fall back (the scripted responder's "Sorry, could you say that
# again?", the LLM-failure apology). Not "sorry" alone: "I'm sorry you're not feeling well" is
# sympathy, not a failure.
APOLOGY_PHRASES = (
    "having trouble", "say that again", "didnt catch", "did not catch", "didnt understand",
    "did not understand", "dont understand", "not sure i understand", "i apologize",
    "apologies", "sorry about that", "sorry for the", "something went wrong", "cant help with",
)

# Negative or angry words and phrases (RISK_NEGATIVE_WORDS replaces them). Asking for a person
# or a manager is among them: it says the agent is not helping.
DEFAULT_NEGATIVE_WORDS = (
    "angry", "furious", "ridiculous", "useless", "stupid", "terrible", "awful", "horrible",
    "worst", "unacceptable", "frustrated", "frustrating", "annoyed", "annoying", "hate", "joke",
    "waste of time", "complaint", "lawyer", "scam", "rip off", "damn", "hell", "crap", "shit",
    "fuck", "real person", "human", "manager")

_APOSTROPHE = re.compile(r"['\u2019]")
_NOT_WORD = re.compile(r"[^a-z0-9_]+")


def words_of(text: str) -> list[str]:
    """Lower case, apostrophes dropped ("can't" -> "cant"), split on everything else."""
    return _NOT_WORD.sub(" ", _APOSTROPHE.sub("", text.lower())).split()


def near_miss(words: list[str], phrases: tuple[str, ...]) -> tuple[str, str] | None:
    """(phrase, words heard) for the first plain phrase whose words all nearly match a run of
    `words`, in order, without matching exactly (an exact match is triage's emergency). `re:`
    patterns are triage's alone."""
    for phrase in phrases:
        target = _phrase_words(phrase)
        heard = _fuzzy_run(words, target) if target else None
        if heard is not None:
            return phrase, " ".join(heard)
    return None


@lru_cache(maxsize=1024)
def _phrase_words(phrase: str) -> list[str]:
    """A profile phrase's words, once per phrase (never mutated); [] for a `re:` pattern."""
    return [] if phrase.startswith("re:") else words_of(phrase)


def _fuzzy_run(words: list[str], target: list[str]) -> list[str] | None:
    size = len(target)
    for start in range(len(words) - size + 1):
        run = words[start : start + size]
        if run != target and all(map(similar, run, target)):
            return run
    return None


@lru_cache(maxsize=8192)
def similar(heard: str, meant: str) -> bool:
    """The same word, or (both long enough) one a recognizer could have misheard for it."""
    if heard == meant:
        return True
    if min(len(heard), len(meant)) < FUZZY_MIN_CHARS or abs(len(heard) - len(meant)) > 2:
        return False
    return SequenceMatcher(None, heard, meant).ratio() >= NEAR_MISS_CUTOFF


def found_phrases(words: list[str], phrases: tuple[str, ...]) -> list[str]:
    """Each of `phrases` (already normalized) said in `words`, as often as it was said."""
    padded = f" {' '.join(words)} "
    return [p for p in phrases for _ in range(padded.count(f" {p} "))]


def normalized(phrases: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(" ".join(words_of(p)) for p in phrases if words_of(p))


def apologizes(words: list[str], profile_apology: tuple[str, ...] = ()) -> bool:
    """An apology or fallback line: one of APOLOGY_PHRASES, or the profile's own apology."""
    return bool(found_phrases(words, _APOLOGIES + profile_apology))


def question_key(words: list[str]) -> frozenset[str]:
    """What a caller turn asks, as its content words; empty when it is too short to compare."""
    content = frozenset(w for w in words if w not in STOP_WORDS)
    return content if len(content) >= QUESTION_MIN_WORDS else frozenset()


def same_question(a: frozenset[str], b: frozenset[str]) -> bool:
    return bool(a and b) and len(a & b) / len(a | b) >= SAME_QUESTION


_APOLOGIES = normalized(APOLOGY_PHRASES)

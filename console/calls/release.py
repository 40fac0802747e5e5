"""The release rule: how long the caller must stay quiet before a prepared reply may be heard.

A reply is prepared as soon as the caller falls silent, but answering on the first pause talks
over people who pause to think. The rule reads the words of the turn so far and says how much
silence it takes to be sure the caller is done:

- A question ("...open on Sundays?"): it asks for an answer now.
- Sounds unfinished (it ends on a comma, a conjunction, a preposition, an article, a filler, or
  a clause that cannot end there: "I'd like to book a table for", "my daughter has a fever and",
  "um", "my date of birth is", "can you", "I'm"): wait the long bound.
- The caller is telling something at length (two sentences or more in one turn, or they
  already went on after a pause we took for the end): wait between sentences, at least as long
  as the longest pause they resumed after.
- Anything else is a finished statement: at once, unless the caller's voice ended level
  (prosody.py: the plateau of a speaker who pauses to go on, neither a final fall nor a high
  rise): then a short hold, long enough for a thinking pause ("I'm calling about my
  prescription ... for blood pressure pills"). The reply is prepared meanwhile, so only such
  turns wait.

Pure and cheap: it runs once per candidate turn end, never per frame.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from console.calls.prosody import Ending
from console.calls.turns import words_of

# Only words that (almost) never end a sentence: "that", "then", "on", "in", "over", "this"
# and "no" are out on purpose ("Hold on.", "I'd like that.", "No."); "so" is judged apart.
CONJUNCTIONS = frozenset({
    "and", "but", "or", "because", "cause", "cos", "if", "when", "while", "until", "unless",
    "although", "though", "since", "as", "than", "whether", "where", "plus", "nor",
})  # fmt: skip
PREPOSITIONS = frozenset({
    "to", "for", "with", "at", "of", "from", "about", "into", "onto", "like", "between",
    "without", "during", "via", "per", "near", "towards", "toward", "across", "against",
})  # fmt: skip
# "so" ends a sentence only after these ("I think so.", "I hope so."); elsewhere it is the
# conjunction ("we moved last month so").
SO_ENDS_AFTER = frozenset({
    "think", "hope", "guess", "believe", "suppose", "said", "say", "says", "told", "do", "did",
    "is", "was", "not", "and",
})  # fmt: skip
DETERMINERS = frozenset({"the", "a", "an", "my", "your", "our", "their", "his", "its", "every"})
FILLERS = frozenset({"um", "uh", "er", "erm", "uhm"})
INTENSIFIERS = frozenset({"very", "quite", "extremely", "fairly"})
# A contracted auxiliary cannot end a clause ("yes it's" is not English): "my son's", as a
# possessive, is not in the list.
CONTRACTIONS = frozenset({
    "i'm", "i'd", "i'll", "i've", "we're", "we've", "we'll", "we'd", "you're", "you've",
    "you'll", "you'd", "they're", "they've", "they'll", "they'd", "it's", "it'll", "there's",
    "here's", "that's", "what's", "who's", "where's", "how's", "he's", "she's", "he'll",
    "she'll", "let's",
})  # fmt: skip
# Words after which a clause cannot end: the speaker is still building it.
_OPEN_WORDS = {"conjunction": CONJUNCTIONS, "preposition": PREPOSITIONS, "article": DETERMINERS,
               "filler": FILLERS, "intensifier": INTENSIFIERS, "contraction": CONTRACTIONS}
# "my date of birth is" waits for the date, but "yes it is", "here we are" and "I know where
# she was" are whole: a stranded "is" ends a clause only after a pronoun or a wh-word.
COPULAS = frozenset({"is", "are", "was", "were"})
ENDS_BEFORE_COPULA = frozenset({
    "it", "that", "this", "there", "here", "he", "she", "they", "we", "you", "i", "what", "who",
    "where", "how", "which", "whatever", "so",
})  # fmt: skip
# "can you", "could I", "would we": a question that has only begun. "I" alone is a subject
# waiting for its verb ("my wife and I"), except after an auxiliary ("so do I").
MODALS = frozenset({"can", "could", "would", "will", "should", "shall", "may", "might"})
AUXILIARIES = MODALS | COPULAS | frozenset({"do", "did", "does", "am", "have", "had", "must"})
ASKED_SUBJECTS = frozenset({"you", "i", "we"})
_TRAILING_MARK = re.compile(r"(,|;|:|-|–|—|\.\.\.|…)\s*$")
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s+\S)")
# Between the longest pause the caller resumed after and our answer, this much more.
RESUMED_MARGIN_S = 0.1


@dataclass(frozen=True)
class ReleaseRule:
    unfinished_hold_s: float = 1.2
    """Quiet before answering words that sound unfinished; also the bound on every wait."""
    narrating_hold_s: float = 0.8
    """Quiet between sentences of a caller telling something at length (our recordings'
    sentence pauses: p50 525-660 ms, most under 800)."""
    level_hold_s: float = 0.0
    """Quiet before answering a finished statement whose voice did not end falling (0: the
    voice is not listened to, as before)."""


@dataclass(frozen=True)
class Release:
    after_quiet_s: float
    reason: str  # says why, for the event log and the operator


def release_after(
    text: str, resumed_pauses: Sequence[float] = (), rule: ReleaseRule | None = None,
    ending: Ending = Ending.UNKNOWN,
) -> Release:
    """How many seconds of caller quiet before a reply to `text` may be heard.
    `resumed_pauses`: silences (s) after which this caller went on talking, this call.
    `ending`: how their voice ended (prosody.py); it only ever holds a finished statement."""
    rule = rule or ReleaseRule()
    if text.rstrip().endswith("?"):
        return Release(0.0, "question")
    if (sign := unfinished_sign(text)) is not None:
        return Release(rule.unfinished_hold_s, f"unfinished: {sign}")
    if (story := _narrating(text, resumed_pauses, rule)) is not None:
        return story
    if ending is Ending.LEVEL and rule.level_hold_s > 0:
        return Release(rule.level_hold_s, "finished, voice level")
    return Release(0.0, "finished")


def unfinished_sign(text: str) -> str | None:
    """What makes `text` sound unfinished ("conjunction 'and'", "comma"), or None."""
    stripped = text.strip()
    if not stripped:
        return None
    if (mark := _TRAILING_MARK.search(stripped)) is not None:
        return "comma" if mark.group(1) == "," else f"trailing {mark.group(1)!r}"
    words = words_of(stripped.replace("\u2019", "'"))
    last = words[-1] if words else ""
    before = words[-2] if len(words) >= 2 else ""
    for kind, vocabulary in _OPEN_WORDS.items():
        if last in vocabulary:
            return f"{kind} {last!r}"
    return _open_clause(before, last)


def _open_clause(before: str, last: str) -> str | None:
    """A clause left open by its last two words: "so" as a conjunction, a stranded copula, a
    question that has only begun, a subject with no verb yet, "and then"."""
    if last == "so" and before not in SO_ENDS_AFTER:
        return "conjunction 'so'"
    if last in COPULAS and before not in ENDS_BEFORE_COPULA:
        return f"open clause {f'{before} {last}'.strip()!r}"
    if before in MODALS and last in ASKED_SUBJECTS:
        return f"open question '{before} {last}'"
    if last == "i" and before not in AUXILIARIES:
        return "subject 'I'"
    if last == "then" and before in {"and", "but", "so"}:
        return f"conjunction '{before} then'"
    return None


def _narrating(text: str, resumed_pauses: Sequence[float], rule: ReleaseRule) -> Release | None:
    sentences = len(_SENTENCE_END.findall(text.strip())) + 1
    longest = max(resumed_pauses, default=0.0)
    if sentences < 2 and not resumed_pauses:
        return None
    wait = min(rule.unfinished_hold_s, max(rule.narrating_hold_s, longest + RESUMED_MARGIN_S))
    why = f"{sentences} sentences" if sentences >= 2 else f"resumed after {longest:.2f} s"
    return Release(wait, f"narrating: {why}")

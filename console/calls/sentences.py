"""Turns a stream of LLM tokens into speakable chunks as early as possible.

The first chunk decides the caller's wait, so it goes to TTS at the reply's first clause ("Sure,",
"Okay —") or after a few words, whichever comes first (`first_clause_end`). Every later chunk is a
sentence, released the moment its end is certain; long run-on text is released at a clause
boundary so TTS never waits on a 60-word sentence.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? (optionally followed by quotes/brackets) and then whitespace.
_SENTENCE_END = re.compile(r"""[.!?…]+["')\]]*\s""")
# Abbreviations whose period does not end a sentence in phone speech.
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "e.g.", "i.e.", "vs.", "a.m.", "p.m.")
# LLM tokens carry their space in front (" We"), so a sentence's last token ends the buffer:
# "... noted." is complete when the word before the stop is a real word, not a number that may
# continue ("3." + "50") or an initial ("F." + " Kennedy"). Waiting for the next token costs 5 ms.
_ENDS_NOW = re.compile(r"""[A-Za-z]{2,}[.!?…]+["')\]]*$|[0-9][!?]+$""")
# Past this many characters, a comma, semicolon or colon is a good enough place to cut.
_CLAUSE_CUT_CHARS = 120
_CLAUSE_END = re.compile(r"[,;:]\s")

# --- the first chunk ------------------------------------------------------------------------------
# With no clause mark, the first chunk is cut after this many words. 4 words are ~5 tokens, ~25 ms
# of LLM stream at Groq's ~5 ms a token, where the old rule waited for the whole first sentence
# (12-20 words on the phone: 75-125 ms; 6 words measured 40 ms on the pipeline bench, 4 words
# 20 ms). And 4 words are ~1.4 s of speech at ~170 words a minute, which covers the next chunk's
# TTS first byte (~0.1-0.3 s) several times over, so the seam is silent.
FIRST_CHUNK_WORDS = 4
# A cut at the budget that would leave "at the" / "with your" / "Dr." / "3" hanging waits up to
# this many more words for a word that can end a phrase; then it cuts anyway (at 8 words).
DANGLING_GRACE_WORDS = 4
# Words that lean on the next one: articles, prepositions, conjunctions, possessives, titles,
# pronouns and auxiliaries; a bare number too ("at 3" + "p.m.", "3" + "dollars"). Generous on
# purpose: a word listed wrongly ("I can do it") costs at most DANGLING_GRACE_WORDS tokens (~20 ms).
_LEANS_FORWARD = frozenset(
    "a an the to of in on at for with from by about into onto over under after before between "
    "through during without within until near like per via than and or but nor if because as "
    "that so my your our their his her its this these those i you we they he she it is are was "
    "were be been am will would can could should may might must have has had do does did "
    "mr. mrs. ms. dr. st. e.g. i.e. vs."
    .split()
)  # fmt: skip
_NUMBER = re.compile(r"[$£€]?\d[\d.,:]*")
_WORD = re.compile(r"\S+")
# A word that ends a clause: a comma, semicolon or colon after it, or a dash ("Okay —", "Okay—").
# After a letter the mark ends the clause at once ("Sure,"); after a digit it may be inside a
# number ("3," + "500", "9:" + "30"), so that waits for the space that follows the word.
_CLAUSE_MARK_NOW = re.compile(r"""(?:[A-Za-z"')\]][,;:]|—)$""")
_CLAUSE_MARK = re.compile(r"""(?:[,;:]|[—–]|^-)$""")


def first_clause_end(text: str) -> int | None:
    """Where the reply's first chunk may end in `text` (the reply so far), or None to wait.

    Cuts only between words: a word is complete once whitespace follows it (the next token came,
    with its leading space), or at once when it ends in a clause mark after a letter ("Sure,")."""
    words = list(_WORD.finditer(text))
    spoken = 0  # words with a letter or digit: a lone "—" is not a first chunk
    for word in words:
        complete = word.end() < len(text)
        spoken += bool(re.search(r"\w", word.group()))
        if spoken and _ends_clause(word.group(), complete):
            return word.end()
        if not complete:
            return None
        if spoken >= FIRST_CHUNK_WORDS and (
            spoken >= FIRST_CHUNK_WORDS + DANGLING_GRACE_WORDS or not _leans_forward(word.group())
        ):
            return word.end()
    return None


def _ends_clause(word: str, complete: bool) -> bool:
    return bool(_CLAUSE_MARK_NOW.search(word) or (complete and _CLAUSE_MARK.search(word)))


def _leans_forward(word: str) -> bool:
    return word.lower() in _LEANS_FORWARD or _NUMBER.fullmatch(word) is not None


class SentenceChunker:
    """Tokens in, speakable chunks out: the first clause first, then whole sentences.

    `first_clause=False` cuts by sentence from the start (text known in full gains nothing from
    an early first chunk, and every chunk costs a TTS Flush)."""

    def __init__(self, *, first_clause: bool = True) -> None:
        self._buffer = ""
        self._first = first_clause

    def feed(self, token: str) -> list[str]:
        """Add a token; return the chunks it completed (possibly none)."""
        self._buffer += token
        chunks: list[str] = []
        while (chunk := self._take_one()) is not None:
            chunks.append(chunk)
        return chunks

    def flush(self) -> str | None:
        """The rest of the reply, once the LLM is done."""
        rest, self._buffer = self._buffer.strip(), ""
        return rest or None

    def _take_one(self) -> str | None:
        cut = self._sentence_end()
        if self._first and (clause := first_clause_end(self._buffer)) is not None:
            cut = clause if cut is None else min(cut, clause)
        if cut is None:
            cut = self._long_sentence_clause_end()
        return None if cut is None else self._cut(cut)

    def _sentence_end(self) -> int | None:
        for match in _SENTENCE_END.finditer(self._buffer):
            if not self._is_abbreviation(match.start()):
                return match.end()
        if _ENDS_NOW.search(self._buffer) and not self._is_abbreviation(len(self._buffer) - 1):
            return len(self._buffer)
        return None

    def _long_sentence_clause_end(self) -> int | None:
        if len(self._buffer) > _CLAUSE_CUT_CHARS:
            clause = _CLAUSE_END.search(self._buffer, _CLAUSE_CUT_CHARS // 2)
            if clause:
                return clause.end()
        return None

    def _is_abbreviation(self, end_index: int) -> bool:
        words = self._buffer[: end_index + 1].lower().split()
        if not words:
            return False
        last = words[-1]
        return last in _ABBREVIATIONS or (len(last) == 2 and last[0].isalpha())  # an initial

    def _cut(self, index: int) -> str | None:
        chunk, self._buffer = self._buffer[:index].strip(), self._buffer[index:]
        if chunk:
            self._first = False
        return chunk or None

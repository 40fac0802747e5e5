"""Turns a stream of LLM tokens into speakable sentences as early as possible.

The first sentence decides the caller's wait, so it is released the moment its end is certain;
long run-on text is released at a clause boundary so TTS never waits on a 60-word sentence.
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


class SentenceChunker:
    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, token: str) -> list[str]:
        """Add a token; return the sentences it completed (possibly none)."""
        self._buffer += token
        sentences: list[str] = []
        while (sentence := self._take_one()) is not None:
            sentences.append(sentence)
        return sentences

    def flush(self) -> str | None:
        """The rest of the reply, once the LLM is done."""
        rest, self._buffer = self._buffer.strip(), ""
        return rest or None

    def _take_one(self) -> str | None:
        for match in _SENTENCE_END.finditer(self._buffer):
            if not self._is_abbreviation(match.start()):
                return self._cut(match.end())
        if _ENDS_NOW.search(self._buffer) and not self._is_abbreviation(len(self._buffer) - 1):
            return self._cut(len(self._buffer))
        if len(self._buffer) > _CLAUSE_CUT_CHARS:
            clause = _CLAUSE_END.search(self._buffer, _CLAUSE_CUT_CHARS // 2)
            if clause:
                return self._cut(clause.end())
        return None

    def _is_abbreviation(self, end_index: int) -> bool:
        words = self._buffer[: end_index + 1].lower().split()
        if not words:
            return False
        last = words[-1]
        return last in _ABBREVIATIONS or (len(last) == 2 and last[0].isalpha())  # an initial

    def _cut(self, index: int) -> str | None:
        sentence, self._buffer = self._buffer[:index].strip(), self._buffer[index:]
        return sentence or None

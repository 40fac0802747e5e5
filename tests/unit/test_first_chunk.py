"""The reply's first chunk: what the caller hears first, and how soon (calls/sentences.py)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from console.calls.sentences import SentenceChunker


def subword_tokens(text: str) -> list[str]:
    """Tokens shaped like Llama's: a leading space on words, punctuation apart, digits in threes."""
    return re.findall(r"\s?[A-Za-z']+|\s?\d{1,3}|\s?[^\w\s]", text)


def word_tokens(text: str) -> list[str]:
    """Tokens shaped like the fake Groq's: a word with its leading space and its punctuation."""
    return re.findall(r"\s*\S+", text)


def chunks(text: str, tokenize: Callable[[str], list[str]]) -> list[str]:
    chunker = SentenceChunker()
    out = [chunk for token in tokenize(text) for chunk in chunker.feed(token)]
    rest = chunker.flush()
    return out + ([rest] if rest else [])


TOKENIZERS = pytest.mark.parametrize("tokenize", [subword_tokens, word_tokens])

HEARD_FIRST = [
    # a clause mark after at least one word
    ("Sure, I can help you with that booking today.",
     ["Sure,", "I can help you with that booking today."]),
    ("Of course, Maria, your table is booked.", ["Of course,", "Maria, your table is booked."]),
    ("Okay — let me check.", ["Okay —", "let me check."]),
    ("Right; the clinic opens at nine.", ["Right;", "the clinic opens at nine."]),
    ("Yes. See you then.", ["Yes.", "See you then."]),
    ("That works for me.", ["That works for me."]),
    # no clause mark: four words, then the next word that can end a phrase (at most eight)
    ("I can book you in on Friday at nine in the morning.",
     ["I can book you in on Friday", "at nine in the morning."]),
    ("Let me transfer you to the nurse at the front desk.",
     ["Let me transfer you to the nurse", "at the front desk."]),
    ("Please ask for the nurse or Dr. Smith at the desk.",
     ["Please ask for the nurse", "or Dr. Smith at the desk."]),
    ("I have noted line 12 for your booking today.",
     ["I have noted line", "12 for your booking today."]),
    ("The total comes to 3.50 dollars for today.",
     ["The total comes to 3.50 dollars", "for today."]),
    ("Please hold while I put you through to the team.",
     ["Please hold while I put", "you through to the team."]),
    ("You can reach us at the front desk in the morning.",
     ["You can reach us", "at the front desk in the morning."]),
    # numbers keep their commas, colons and points
    ("It is 3,500 dollars, paid in advance.", ["It is 3,500 dollars,", "paid in advance."]),
    ("We open at 9:30 tomorrow.", ["We open at 9:30 tomorrow."]),
    # after the first chunk, sentences as before
    ("Sure, I can. Monday, Tuesday, or Friday?",
     ["Sure,", "I can.", "Monday, Tuesday, or Friday?"]),
]  # fmt: skip


@TOKENIZERS
@pytest.mark.parametrize(("reply", "heard"), HEARD_FIRST, ids=[r for r, _ in HEARD_FIRST])
def test_the_caller_hears_the_first_clause_and_then_whole_sentences(reply, heard, tokenize):
    assert chunks(reply, tokenize) == heard


def test_the_caller_hears_sure_as_soon_as_its_comma_arrives():
    chunker = SentenceChunker()
    assert chunker.feed("Sure") == []
    assert chunker.feed(",") == ["Sure,"]


def test_a_word_is_not_spoken_before_the_next_token_shows_it_is_whole():
    chunker = SentenceChunker()
    for token in ["I", " can", " book", " you", " in", " on", " Fri"]:
        assert chunker.feed(token) == []
    assert chunker.feed("day") == []  # "Fri" + "day": still one word
    assert chunker.feed(" at") == ["I can book you in on Friday"]


def test_a_comma_after_a_number_waits_for_the_next_token_in_case_it_is_a_thousand():
    chunker = SentenceChunker()
    assert [c for t in ["It", " costs", " 3", ","] for c in chunker.feed(t)] == []
    assert chunker.feed("500") == []
    assert chunker.feed(" dollars,") == ["It costs 3,500 dollars,"]


def test_a_lone_dash_before_any_word_is_not_the_first_thing_the_caller_hears():
    assert chunks("— Sure thing.", word_tokens) == ["— Sure thing."]


def test_known_text_is_heard_by_sentence_when_the_first_clause_cut_is_off():
    chunker = SentenceChunker(first_clause=False)
    assert chunker.feed("Hello, thanks for calling. How can I help? ") == [
        "Hello, thanks for calling.",
        "How can I help?",
    ]

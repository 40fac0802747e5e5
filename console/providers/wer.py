"""Word error rate, for checking and benchmarking speech recognisers."""

from __future__ import annotations

from collections.abc import Sequence

from console.profiles import normalize

_DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def spoken_words(text: str) -> list[str]:
    """Normalized words, with digits spelled out one by one: recognisers write a spoken
    "five five five, one two" as "555-12", which is the same speech, not an error."""
    spelled = "".join(f" {_DIGITS[int(c)]} " if c.isdigit() else c for c in text)
    return normalize(spelled).split()


def word_edits(reference: str, hypothesis: str) -> int:
    """Substitutions + deletions + insertions turning the reference words into the hypothesis,
    compared after normalisation (case and punctuation do not count as errors)."""
    ref, hyp = spoken_words(reference), spoken_words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, start=1):
        current = [i]
        for j, hyp_word in enumerate(hyp, start=1):
            substitution = previous[j - 1] + (ref_word != hyp_word)
            current.append(min(substitution, previous[j] + 1, current[j - 1] + 1))
        previous = current
    return previous[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Total edits over total reference words, across pairs of utterances (0.0 is perfect).
    A missing hypothesis counts as its reference words deleted, an extra one as insertions."""
    count = max(len(references), len(hypotheses))
    refs = list(references) + [""] * (count - len(references))
    hyps = list(hypotheses) + [""] * (count - len(hypotheses))
    edits = sum(word_edits(ref, hyp) for ref, hyp in zip(refs, hyps, strict=True))
    words = sum(len(spoken_words(ref)) for ref in references)
    return edits / words if words else float(edits > 0)

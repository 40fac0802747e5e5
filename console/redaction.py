"""What must never be stored, found in text and replaced by a label: payment card numbers
(`[card]`), US social security numbers (`[ssn]`), dates of birth (`[dob]`), and keypad digits
keyed after a profile's "sensitive" prompt (`[digits]`).

Recognizers write numbers in several ways, and each is handled: "4111 1111 1111 1111",
"4111-1111-1111-1111", "4111111111111111" (Deepgram's smart_format) and the spoken digits a
recognizer without it writes ("four one one one ...", "oh" for zero, "double four").

- A card is 13 to 19 digits (ISO/IEC 7812) that pass the Luhn check and start with 2 to 6 (the
  major networks' ranges), so an order or account number is (nine times in ten) left alone.
- An SSN is 3-2-4 digits written with dashes or spaces, or any 9 digits when "social security" or
  "SSN" was said just before (or asked by the agent); never an SSN the SSA cannot issue (area 000,
  666 or 900-999, group 00, serial 0000).
- A date of birth is a date near "born", "birthday", "birth date", "date of birth" or "DOB": one
  that starts within 40 characters after the cue or ends within 25 before it, or any date in the
  answer to a line that asked for one. A date is a month name, a numeric date, a year, or two or
  more number words ("three fourteen eighty five"); a lone small number is not one.

`prompt` is what the agent said last: a caller's "four one one one ..." has no cue of its own
when the agent asked "what is your social security number?".

Pure, and imports nothing from `console` (a kernel, like safe_text): storage applies it to every
text it writes; the live call, and triage, never see it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass

KINDS = ("card", "ssn", "dob", "dtmf")
LABELS = {"card": "[card]", "ssn": "[ssn]", "dob": "[dob]", "dtmf": "[digits]"}


@dataclass(frozen=True)
class Found:
    """One redacted stretch of the original text: `text[start:end]` was a `kind`."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class Redacted:
    text: str
    found: tuple[Found, ...] = ()
    length: int = 0  # of the original text, to place what was found in time


def redact(text: str, kinds: Collection[str], prompt: str = "") -> Redacted:
    """`text` with every enabled kind replaced by its label. Text without a digit or a number
    word comes back as it was, cheaply (most turns)."""
    wanted = [kind for kind in ("card", "ssn", "dob") if kind in kinds]
    if not wanted or not text or not _may_hold_a_number(text):
        return Redacted(text, (), len(text))
    found: list[Found] = []
    for kind in wanted:
        for item in _FINDERS[kind](text, prompt):
            if not any(item.start < old.end and old.start < item.end for old in found):
                found.append(item)
    found.sort(key=lambda item: item.start)
    return Redacted(_replace(text, found), tuple(found), len(text))


def _replace(text: str, found: list[Found]) -> str:
    parts, at = [], 0
    for item in found:
        parts += [text[at : item.start], LABELS[item.kind]]
        at = item.end
    return "".join([*parts, text[at:]])


# ---------------------------------------------------------------------------- runs of digits

_DIGIT_WORDS = {"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3",
                "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9"}
_REPEATS = {"double": 2, "triple": 3}
_DIGIT_WORD = "|".join(sorted(_DIGIT_WORDS, key=len, reverse=True))
_UNIT = rf"(?:\d+|(?:(?:double|triple)[\s-]+)?(?:{_DIGIT_WORD}))(?![a-z0-9])"
# Between the digits of one number: spaces, or a dash, comma or slash (recognizers group card
# digits with commas: "4111, 1111, ..."). A full stop ends a number.
_SEPARATOR = r"(?:\s*[,\-\u2013/]\s*|\s+)"
_RUN = re.compile(rf"(?<![a-z0-9]){_UNIT}(?:{_SEPARATOR}{_UNIT})*", re.IGNORECASE)
_ONE_UNIT = re.compile(_UNIT, re.IGNORECASE)



@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    digits: str


def _units(run: re.Match[str]) -> list[_Unit]:
    units = []
    for unit in _ONE_UNIT.finditer(run.group()):
        units.append(_Unit(run.start() + unit.start(), run.start() + unit.end(),
                           _digits_of(unit.group())))
    return units


def _digits_of(unit: str) -> str:
    if unit.isdigit():
        return unit
    words = unit.lower().replace("-", " ").split()
    times = _REPEATS.get(words[0], 1)
    return _DIGIT_WORDS[words[-1]] * times


def _runs(text: str) -> Iterator[list[_Unit]]:
    for run in _RUN.finditer(text):
        yield _units(run)


def _spans(units: list[_Unit], fits: range) -> Iterator[tuple[int, int, str]]:
    """(first, last, digits) for each stretch of whole units whose digit count is in `fits`,
    longest first from each starting unit."""
    for first in range(len(units)):
        digits = ""
        stretches = []
        for last in range(first, len(units)):
            digits += units[last].digits
            if len(digits) > fits.stop - 1:
                break
            if len(digits) in fits:
                stretches.append((first, last, digits))
        yield from reversed(stretches)


def _claim(units: list[_Unit], kind: str, spans: Iterator[tuple[int, int, str]],
           accept: Callable[[int, int, str], bool]) -> list[Found]:
    """Take accepted spans left to right, never two over the same unit."""
    found: list[Found] = []
    taken_until = -1
    for first, last, digits in spans:
        if first > taken_until and accept(first, last, digits):
            found.append(Found(kind, units[first].start, units[last].end))
            taken_until = last
    return found


# ---------------------------------------------------------------------------- cards


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check digit of ISO/IEC 7812 card numbers."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


_CARD_LENGTHS = range(13, 20)
_CARD_FIRST_DIGITS = "23456"  # Mastercard 2-series, Amex/Diners/JCB 3, Visa 4, MC 5, Discover 6


def _is_card(digits: str) -> bool:
    return digits[0] in _CARD_FIRST_DIGITS and luhn_ok(digits)


def _cards(text: str, prompt: str) -> list[Found]:
    found: list[Found] = []
    for units in _runs(text):
        spans = _spans(units, _CARD_LENGTHS)
        found += _claim(units, "card", spans, lambda _f, _l, digits: _is_card(digits))
    return found


# ---------------------------------------------------------------------------- SSNs

_SSN_CUE = re.compile(r"\bsocial\b|\bs\.?\s?s\.?\s?n\b|\bssn\b", re.IGNORECASE)
_SSN_CUE_REACH = 60  # characters between "social security number" and the number itself
_WRITTEN_SSN = re.compile(r"\d{3}([- ])\d{2}\1\d{4}")


def ssn_possible(digits: str) -> bool:
    """The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return (area not in ("000", "666") and area[0] != "9" and group != "00"
            and serial != "0000")


def _ssns(text: str, prompt: str) -> list[Found]:
    asked = bool(_SSN_CUE.search(prompt))
    found: list[Found] = []
    for units in _runs(text):
        cued = asked or _cue_before(text, units[0].start, _SSN_CUE, _SSN_CUE_REACH)
        def accept(first: int, last: int, digits: str, units: list[_Unit] = units,
                   cued: bool = cued) -> bool:
            if not ssn_possible(digits):
                return False
            return cued or _written_ssn(text, units[first], units[last])
        found += _claim(units, "ssn", _spans(units, range(9, 10)), accept)
    return found


def _written_ssn(text: str, first: _Unit, last: _Unit) -> bool:
    return bool(_WRITTEN_SSN.fullmatch(text, first.start, last.end))


def _cue_before(text: str, at: int, cue: re.Pattern[str], reach: int) -> bool:
    return bool(cue.search(text, max(0, at - reach), at))


# ---------------------------------------------------------------------------- dates of birth

_DOB_CUE = re.compile(
    r"\b(?:born|birth\s?days?|birth\s?dates?|date\s+of\s+birth|d\.?\s?o\.?\s?b)\b", re.IGNORECASE
)
DOB_AFTER_CUE = 40  # characters from the end of a cue to the start of its date
# Characters from the end of a date to the start of its cue ("March 3rd 1985 is my birthday").
DOB_BEFORE_CUE = 25

_MONTH = (r"(?:january|february|march|april|may|june|july|august|september|october|november|"
          r"december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?")
_NUMBER_WORD = (
    r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
    r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety|hundred|thousand|first|second|third|fourth|fifth|sixth|seventh|"
    r"eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|"
    r"seventeenth|eighteenth|nineteenth|twentieth|thirtieth)"
)
_NUMERIC_DATE = r"(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2}))"
_DATE_TOKEN = (rf"(?:{_NUMERIC_DATE}|{_MONTH}|'\d{{2}}|\d{{1,4}}(?:st|nd|rd|th)?|{_NUMBER_WORD})"
               r"(?![a-z0-9])")
_DATE_RUN = re.compile(
    rf"(?<![a-z0-9']){_DATE_TOKEN}(?:[\s,/.-]+(?:(?:of|the|and)\s+)*{_DATE_TOKEN})*",
    re.IGNORECASE,
)
_TOKEN = re.compile(_DATE_TOKEN, re.IGNORECASE)
_IS_MONTH = re.compile(rf"{_MONTH}$", re.IGNORECASE)
_IS_YEAR_OR_DATE = re.compile(rf"(?:1[89]\d\d|20\d\d|'\d\d|{_NUMERIC_DATE})$")


def _date_like(run: str) -> bool:
    tokens = _TOKEN.findall(run)
    if sum(token[:1].isdigit() for token in tokens) > 3:
        return False  # day, month, year at most: "4111 1111 1111 1111" is no date
    if len(tokens) >= 2:
        return True
    return bool(tokens) and bool(_IS_MONTH.match(tokens[0]) or _IS_YEAR_OR_DATE.match(tokens[0]))


def _dobs(text: str, prompt: str) -> list[Found]:
    asked = bool(_DOB_CUE.search(prompt))
    cues = [(cue.start(), cue.end()) for cue in _DOB_CUE.finditer(text)]
    if not asked and not cues:
        return []
    found = []
    for run in _DATE_RUN.finditer(text):
        if _date_like(run.group()) and (asked or _near_a_cue(run, cues)):
            found.append(Found("dob", run.start(), _trimmed_end(run)))
    return found


def _near_a_cue(run: re.Match[str], cues: list[tuple[int, int]]) -> bool:
    return any(0 <= run.start() - end <= DOB_AFTER_CUE or 0 <= start - run.end() <= DOB_BEFORE_CUE
               for start, end in cues)


def _trimmed_end(run: re.Match[str]) -> int:
    """A date ends at its last token, not at the full stop or comma after it."""
    return run.start() + len(run.group().rstrip(" ,./-"))


_FINDERS = {"card": _cards, "ssn": _ssns, "dob": _dobs}
# Most turns hold no digit, number word or month: they skip every finder. A set lookup per word
# costs ~5 us for a 100-character turn; one regex alternation of these words cost ~75 us.
_NUMBERISH = frozenset(
    re.findall(r"[a-z]+", f"{_NUMBER_WORD} {_MONTH} {_DIGIT_WORD} double triple"))
_WORD = re.compile(r"[a-z]+")


def _may_hold_a_number(text: str) -> bool:
    if any(char.isdigit() for char in text):
        return True
    return not _NUMBERISH.isdisjoint(_WORD.findall(text.lower()))


# ---------------------------------------------------------------------------- keypad digits


def normalize(text: str) -> str:
    """Lower case words separated by single spaces: how prompts are compared."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower().replace("'", "")).split())


DTMF_PAUSE_S = 5.0  # Twilio <Gather>'s default `timeout`: the keypad entry is over after it
DTMF_WAIT_S = 60.0  # how long after the prompt the first key may come and still be an answer
END_KEYS = "#"


class KeypadGuard:
    """Which keypad digits are sensitive: those keyed after the agent said one of the profile's
    sensitive prompts, until `#` or a pause of DTMF_PAUSE_S. The agent's next sentence does not
    close it ("... then press pound" may follow the prompt while the caller keys)."""

    def __init__(self, prompts: Collection[str]) -> None:
        self._prompts = tuple(p for p in (normalize(prompt) for prompt in prompts) if p)
        self._open_until = 0.0  # epoch seconds; 0: closed

    def agent_said(self, text: str, at: float) -> None:
        spoken = f" {normalize(text)} "
        if any(f" {prompt} " in spoken for prompt in self._prompts):
            self._open_until = max(self._open_until, at + DTMF_WAIT_S)

    def pressed(self, key: str, at: float) -> bool:
        """True when `key`, pressed at `at`, must not be stored."""
        if not self._open_until or at > self._open_until:
            self._open_until = 0.0
            return False
        if key in END_KEYS:
            self._open_until = 0.0
            return False
        self._open_until = at + DTMF_PAUSE_S
        return True

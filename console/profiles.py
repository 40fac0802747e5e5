"""Agent profiles: who the agent is on a given number, read from small TOML files.

The packaged files (`console/profiles/`) are the defaults; an operator's own file of the same name
in the data folder's `profiles/` replaces one whole, and any other name there is a new profile
(console/profile_sources.py finds them; `voiceconsole profiles copy NAME` starts one).
Loading reads a file: call it at startup or through `asyncio.to_thread`, never on the event loop.

A running console goes through a `ProfileBook`: every profile is validated at start-up (one that
is invalid stops the start, naming file, field and problem), each call re-reads its profile (an
edit applies to the next call), and an edit that does not validate is reported, while calls go
on with the last good version.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from console import events as ev
from console import profile_sources
from console.profile_summary import SummaryRules, parse_summary
from console.redaction import KINDS as REDACTION_KINDS

log = logging.getLogger(__name__)

EMERGENCY_SENTINEL = "EMERGENCY_DETECTED"
"""What the LLM says (alone or inside a sentence) when the caller describes an emergency."""

# E.164: a plus, a non-zero country digit, 7 to 15 digits in all (ITU-T E.164 caps it at 15).
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_REGEX_PREFIX = "re:"
_SLOTS = ("name", "number")


class ProfileError(ValueError):
    """A profile is missing, unreadable or invalid. The message names the file and the field."""

    def __init__(self, path: Path | str, field_name: str, problem: str) -> None:
        super().__init__(f"{path}: {field_name}: {problem}")
        self.path = Path(path)
        self.field = field_name
        self.problem = problem


@dataclass(frozen=True)
class Intent:
    """One thing a caller may want, recognised by (fuzzy) keywords, answered by a fixed reply."""

    name: str
    keywords: tuple[str, ...]
    reply: str
    urgent: bool = False
    """An urgent intent wins over every other match (emergencies)."""
    use_emergency_phrases: bool = False
    """Also match the profile's `caller_emergency_phrases` (phrases and `re:` patterns)."""


@dataclass(frozen=True)
class ResponderScript:
    """The `[responder]` section: what the scripted (offline) responder says.

    Replies may use `{name}` and `{number}` (slots captured from the caller's turns; a missing slot
    drops out with the comma before it) and `{next}` (the question for the first missing slot).
    """

    intents: tuple[Intent, ...] = ()
    fallback: str = "Sorry, could you say that again?"
    name_reply: str = "Thanks, {name}. {next}"
    number_reply: str = "Got it, {number}. {next}"
    asks: tuple[tuple[str, str], ...] = ()
    """(slot, question) in the order the responder asks for them."""
    done: str = "Is there anything else I can help you with?"
    """What `{next}` becomes once every slot in `asks` is filled."""


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    system_prompt: str
    greeting: str
    voice: str
    """Deepgram Aura voice id, e.g. aura-asteria-en."""
    local_voice: str | None
    """Piper voice for the local tier (a bundled voice name or an .onnx path); None = default."""
    caller_emergency_phrases: tuple[str, ...]
    agent_triggers: tuple[str, ...]
    transfer_targets: Mapping[str, str]
    reprompt: str
    goodbye: str
    apology: str
    idle_reprompt_s: float
    idle_hangup_s: float
    responder: ResponderScript = field(default_factory=ResponderScript)
    redact: tuple[str, ...] = ()
    """What the call store never keeps: "card", "ssn", "dob", "dtmf" (console/redaction.py)."""
    sensitive_prompts: tuple[str, ...] = ()
    """Agent phrases after which the caller's keypad digits are sensitive (with "dtmf")."""
    summary: SummaryRules = field(default_factory=SummaryRules)
    """After the call: dispositions, fields and the extractor's rules (profile_summary.py)."""
    source: Path | None = None
    # Recording (issue 14): consent rules differ, so each profile decides.
    record_calls: bool = True
    """False: this profile's calls are never recorded, whatever RECORDING_ENABLED says."""
    recording_announcement: str = ""
    """Said first on a recorded call, ahead of the greeting (e.g. "This call may be recorded.")."""
    # Approve-before-speak (issue 15): what a person must see before the agent says it.
    gate_topics: tuple[str, ...] = ()
    """Caller phrases (and `re:` patterns) whose reply waits, as text, for an operator's approval:
    e.g. "dosage", "refund", "lawyer"."""
    # Warm transfer (issue 15, part 4).
    emergency_transfer: str = "cold"
    """"warm": an emergency holds the caller and briefs the emergency number before joining them
    (needs Twilio and a public URL; a warm transfer that cannot start falls back to "cold")."""

    @property
    def default_transfer_number(self) -> str | None:
        return self.transfer_targets.get("default")

    def match_caller_emergency(self, text: str) -> str | None:
        """The first emergency phrase the caller's text contains, or None."""
        return match_phrases(text, self.caller_emergency_phrases)

    def match_agent_trigger(self, text: str) -> str | None:
        """The first trigger (e.g. EMERGENCY_DETECTED) the agent's text contains, or None."""
        return match_phrases(text, self.agent_triggers)

    def match_gate_topic(self, text: str) -> str | None:
        """The first of `gate_topics` the caller's words contain (their reply is gated), or None."""
        return match_phrases(text, self.gate_topics)


# ---------------------------------------------------------------------------------------------
# Phrase matching, shared by triage and the scripted responder


def normalize(text: str) -> str:
    """Lower case, apostrophes dropped ("can't" -> "cant"), other punctuation -> single spaces.
    Underscores survive so that EMERGENCY_DETECTED stays one word."""
    text = re.sub(r"['\u2019]", "", text.lower())
    return " ".join(re.sub(r"[^a-z0-9_]+", " ", text).split())


@lru_cache(maxsize=512)
def _compile(phrase: str) -> re.Pattern[str]:
    if phrase.startswith(_REGEX_PREFIX):
        return re.compile(phrase[len(_REGEX_PREFIX) :].strip(), re.IGNORECASE)
    words = normalize(phrase)
    return re.compile(rf"(?:^| ){re.escape(words)}(?: |$)")


def match_phrases(text: str, phrases: tuple[str, ...] | list[str]) -> str | None:
    """Whole-word phrase match on normalized text; `re:` entries search the raw text."""
    plain = normalize(text)
    for phrase in phrases:
        is_regex = phrase.startswith(_REGEX_PREFIX)
        if _compile(phrase).search(text if is_regex else plain):
            return phrase
    return None


# ---------------------------------------------------------------------------------------------
# Loading


def load_profile(name: str) -> Profile:
    """The operator's `NAME.toml`, else the packaged one. Raises ProfileError: an operator's
    file that is broken is an error naming it, never a silent fall back to the packaged copy."""
    if not profile_sources.is_valid_name(name):
        raise ProfileError(name, "name", "a profile name is letters, digits, '-' or '_'")
    source = profile_sources.find(name)
    if source is not None:
        return load_profile_file(source.path)
    known = ", ".join(list_profiles()) or "none"
    missing = profile_sources.operator_dir() / f"{name}.toml"
    raise ProfileError(missing, "name", f"not found ({known})")


def list_profiles() -> list[str]:
    """Names of every profile, the operator's and the packaged."""
    return profile_sources.names()


def load_profile_file(path: Path) -> Profile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProfileError(path, "file", error.strerror or str(error)) from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProfileError(path, "toml", str(error)) from error
    return parse_profile(data, path)


_PROFILE_KEYS = {
    "name", "title", "system_prompt", "greeting", "voice", "local_voice",
    "caller_emergency_phrases", "agent_triggers", "transfer_targets", "reprompt", "goodbye",
    "apology", "idle_reprompt_s", "idle_hangup_s", "responder", "redact", "sensitive_prompts",
    "summary", "record_calls", "recording_announcement", "gate_topics",
    "emergency_transfer",  # issue 15, part 4
}  # fmt: skip


def parse_profile(data: dict[str, Any], path: Path) -> Profile:
    """Validate a decoded TOML table. The profile's name is its file name."""
    reader = _Reader(data, path, "")
    reader.reject_unknown(_PROFILE_KEYS)
    if reader.text("name", default=path.stem) != path.stem:
        reader.fail("name", f"a profile is named by its file ({path.stem}): leave 'name' out")
    triggers = reader.phrases("agent_triggers", default=[EMERGENCY_SENTINEL])
    return Profile(
        name=path.stem,
        title=reader.text("title", default=path.stem.replace("_", " ").title()),
        system_prompt=reader.text("system_prompt"),
        greeting=reader.text("greeting"),
        voice=_voice(reader),
        local_voice=reader.text("local_voice", default="") or None,
        caller_emergency_phrases=reader.phrases("caller_emergency_phrases", default=[]),
        agent_triggers=triggers,
        transfer_targets=_transfer_targets(reader),
        reprompt=reader.text("reprompt", default="Are you still there?"),
        goodbye=reader.text("goodbye", default="Thanks for calling. Goodbye."),
        apology=reader.text("apology", default=_DEFAULT_APOLOGY),
        idle_reprompt_s=reader.seconds("idle_reprompt_s", default=8.0),
        idle_hangup_s=reader.seconds("idle_hangup_s", default=8.0),
        responder=_responder(reader.table("responder"), path),
        redact=_redact(reader),
        sensitive_prompts=reader.phrases("sensitive_prompts", default=[]),
        summary=parse_summary(reader.table("summary")),
        source=path,
        record_calls=reader.flag("record_calls", default=True),
        recording_announcement=reader.text("recording_announcement", default=""),
        gate_topics=reader.phrases("gate_topics", default=[]),
        emergency_transfer=_emergency_transfer(reader),
    )


def _emergency_transfer(reader: _Reader) -> str:
    how = reader.text("emergency_transfer", default="cold")
    if how not in ("cold", "warm"):
        reader.fail("emergency_transfer", f"{how!r} is neither 'cold' nor 'warm'")
    return how


def _redact(reader: _Reader) -> tuple[str, ...]:
    kinds = reader.phrases("redact", default=[])
    for index, kind in enumerate(kinds):
        if kind not in REDACTION_KINDS:
            reader.fail(f"redact[{index}]", f"{kind!r} is not one of {', '.join(REDACTION_KINDS)}")
    if "dtmf" in kinds and not reader.phrases("sensitive_prompts", default=[]):
        reader.fail("sensitive_prompts", "'dtmf' in redact needs the prompts that ask for digits")
    return kinds


_DEFAULT_APOLOGY = "I'm sorry, I'm having trouble right now. Please hold on a moment."
# Deepgram Aura voice ids: aura-asteria-en, aura-2-thalia-en.
_AURA_VOICE = re.compile(r"^aura-[a-z0-9]+(-[a-z0-9]+)*$")


def _voice(reader: _Reader) -> str:
    voice = reader.text("voice", default="aura-asteria-en")
    if not _AURA_VOICE.match(voice):
        reader.fail("voice", f"{voice!r} is not a Deepgram Aura voice like aura-asteria-en")
    return voice


def _transfer_targets(reader: _Reader) -> Mapping[str, str]:
    table = reader.table("transfer_targets")
    targets: dict[str, str] = {}
    for key in table.keys():
        number = table.text(key)
        if not _E164.match(number):
            table.fail(key, f"{number!r} is not an E.164 number like +14155550100")
        targets[key] = number
    if targets and "default" not in targets:
        reader.fail("transfer_targets", "needs a 'default' entry")
    return MappingProxyType(targets)


_RESPONDER_KEYS = {"intents", "fallback", "name_reply", "number_reply", "ask", "done"}


def _responder(reader: _Reader, path: Path) -> ResponderScript:
    reader.reject_unknown(_RESPONDER_KEYS)
    base = ResponderScript()
    return ResponderScript(
        intents=tuple(_intent(item) for item in reader.tables("intents")),
        fallback=reader.text("fallback", default=base.fallback),
        name_reply=reader.text("name_reply", default=base.name_reply),
        number_reply=reader.text("number_reply", default=base.number_reply),
        asks=_asks(reader.table("ask")),
        done=reader.text("done", default=base.done),
    )


def _asks(reader: _Reader) -> tuple[tuple[str, str], ...]:
    reader.reject_unknown(set(_SLOTS))
    return tuple((slot, reader.text(slot)) for slot in reader.keys())


def _intent(reader: _Reader) -> Intent:
    reader.reject_unknown({"name", "keywords", "reply", "urgent", "use_emergency_phrases"})
    intent = Intent(
        name=reader.text("name"),
        keywords=reader.phrases("keywords", default=[]),
        reply=reader.text("reply"),
        urgent=reader.flag("urgent"),
        use_emergency_phrases=reader.flag("use_emergency_phrases"),
    )
    if not intent.keywords and not intent.use_emergency_phrases:
        reader.fail("keywords", "an intent needs at least one keyword")
    return intent


class _Reader:
    """Typed access to one TOML table; every failure names the file and the dotted field."""

    def __init__(self, data: dict[str, Any], path: Path, prefix: str) -> None:
        self.data, self.path, self.prefix = data, path, prefix

    def fail(self, key: str, problem: str) -> NoReturn:
        raise ProfileError(self.path, f"{self.prefix}{key}", problem)

    def keys(self) -> list[str]:
        return list(self.data)

    def reject_unknown(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                self.fail(key, f"unknown field (expected one of {', '.join(sorted(allowed))})")

    def _get(self, key: str, default: Any, kind: type | tuple[type, ...], what: str) -> Any:
        if key not in self.data:
            if default is None:
                self.fail(key, "is required")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            self.fail(key, f"must be {what}, not {type(value).__name__}")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        value: str = self._get(key, default, str, "a string")
        value = value.strip()
        if value:
            return value
        if default is None:
            self.fail(key, "must not be empty")
        return default

    def flag(self, key: str, default: bool = False) -> bool:
        return bool(self._get(key, default, bool, "true or false"))

    def seconds(self, key: str, default: float) -> float:
        value = float(self._get(key, default, (int, float), "a number of seconds"))
        if not 0 < value <= 600:
            self.fail(key, f"must be between 0 and 600 seconds, not {value}")
        return value

    def phrases(self, key: str, default: list[str]) -> tuple[str, ...]:
        values = self._get(key, default, list, "a list of strings")
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                self.fail(f"{key}[{index}]", "must be a non-empty string")
            self._check_regex(f"{key}[{index}]", value)
        return tuple(value.strip() for value in values)

    def _check_regex(self, key: str, value: str) -> None:
        if value.startswith(_REGEX_PREFIX):
            try:
                _compile(value)
            except re.error as error:
                self.fail(key, f"bad regular expression: {error}")

    def table(self, key: str) -> _Reader:
        return _Reader(self._get(key, {}, dict, "a table"), self.path, f"{self.prefix}{key}.")

    def tables(self, key: str) -> list[_Reader]:
        items = self._get(key, [], list, "an array of tables ([[...]])")
        readers = []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                self.fail(f"{key}[{index}]", "must be a table")
            readers.append(_Reader(item, self.path, f"{self.prefix}{key}[{index}]."))
        return readers


# ---------------------------------------------------------------------------------------------
# The running console's profiles: checked at start-up, the last good version kept


class InvalidProfiles(ValueError):
    """Profiles that are invalid at start-up, every one named with its file, field and problem."""

    def __init__(self, errors: list[ProfileError]) -> None:
        lines = "\n".join(f"  {error}" for error in errors)
        super().__init__(f"{len(errors)} invalid profile(s); fix them before starting "
                         f"(`voiceconsole profiles check` checks again):\n{lines}")
        self.errors = errors


@dataclass(frozen=True)
class StaleProfile:
    """A call runs on the last good version of its profile: the file on disk is invalid."""

    name: str
    error: ProfileError
    new: bool  # the first call to meet this invalid version: the operator has not been told


class ProfileBook:
    """The profiles a running console uses, and the last good version of each."""

    def __init__(self) -> None:
        self._good: dict[str, Profile] = {}
        self._reported: dict[str, str] = {}  # name -> the problem already reported
        self._parsed: dict[str, tuple[_FileStamp, Profile]] = {}  # name -> its file, as read

    def check_all(self, required: Iterable[str] = ()) -> list[Profile]:
        """Validate every profile on disk and every one `required` (the settings name them).
        Blocking. Raises InvalidProfiles naming each bad one: a profile that was never good
        fails here, at start-up, rather than on every call."""
        errors: list[ProfileError] = []
        for name in dict.fromkeys([*list_profiles(), *required]):
            try:
                self._good[name] = load_profile(name)
            except ProfileError as error:
                errors.append(error)
        if errors:
            raise InvalidProfiles(errors)
        return list(self._good.values())

    def get(self, name: str) -> tuple[Profile, StaleProfile | None]:
        """The profile as the file says now, or (when the file became invalid) its last good
        version and why. Blocking. Raises ProfileError for one that was never good."""
        try:
            profile = self._read(name)
        except ProfileError as error:
            return self._last_good(name, error)
        self._good[name] = profile
        if self._reported.pop(name, None) is not None:
            log.info("profile %s is valid again: calls use it", name)
        return profile, None

    def last_good(self, name: str) -> Profile | None:
        """The last good version of `name` already read (no file is read), or None."""
        return self._good.get(name)

    def _read(self, name: str) -> Profile:
        """load_profile, parsing the file again only once it changed (another path, size or
        modification time, as make judges a file). Every call start reads its profile, and
        parsing the TOML took ~5 ms of a busy worker's core each time (py-spy, 90 calls)."""
        source = profile_sources.find(name) if profile_sources.is_valid_name(name) else None
        stamp = _stamp(source.path) if source is not None else None
        if stamp is None:
            return load_profile(name)  # raises the ProfileError that names the problem
        parsed = self._parsed.get(name)
        if parsed is not None and parsed[0] == stamp:
            return parsed[1]
        profile = load_profile_file(stamp.path)
        self._parsed[name] = (stamp, profile)
        return profile

    async def for_call(self, name: str) -> tuple[Profile, StaleProfile | None]:
        """`get`, off the event loop (it reads a file)."""
        return await asyncio.to_thread(self.get, name)

    def _last_good(self, name: str, error: ProfileError) -> tuple[Profile, StaleProfile]:
        good = self._good.get(name)
        if good is None:
            raise error
        new = self._reported.get(name) != str(error)
        if new:
            self._reported[name] = str(error)
            log.warning("profile %s: the edit is invalid (%s); calls use the last good version "
                        "until the file is fixed", name, error)
        return good, StaleProfile(name, error, new)


@dataclass(frozen=True)
class _FileStamp:
    path: Path
    inode: int
    size: int
    modified_ns: int


def _stamp(path: Path) -> _FileStamp | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return _FileStamp(path, info.st_ino, info.st_size, info.st_mtime_ns)


def report_stale(events: Callable[..., None], stale: StaleProfile) -> None:
    """On the call that met it (`events` is the call's CallEvents): every such call records that
    it ran on the last good version; the operator is alerted once per invalid edit."""
    events(ev.ProfileRejected, profile=stale.name, problem=str(stale.error))
    if stale.new:
        events(ev.AlertRaised, level="warning",
               message=f"Profile {stale.name} edit rejected ({stale.error}): calls use the last "
                       "good version until the file is fixed")

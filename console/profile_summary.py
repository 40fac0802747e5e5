"""A profile's `[summary]` section: the dispositions a call may end with, the fields worth
extracting from what the caller said, and the rules the deterministic extractor applies.

The cloud tier's model is asked for the same dispositions and fields (console.summary.llm); the
rules decide on the embedded tier and whenever the model's answer is missing or invalid.

    [summary]
    dispositions = ["booked", "escalated", "abandoned", "needs-callback"]
    default = "needs-callback"                 # when no rule matches
    default_outcome = "The caller needs a call back."
    default_actions = ["Call {name} back on {callback_number}."]

    [[summary.fields]]                         # in the order the operator reads them
    name = "requested_time"
    kind = "regex"                             # or "name" / "phone" (built-in extractors)
    patterns = ["(?P<value>(?:monday|tuesday) at \\w+)"]

    [[summary.rules]]                          # first match wins; every condition must hold
    disposition = "booked"
    keywords = ["book", "appointment"]         # said by the caller (fuzzy, like the responder)
    requires = ["requested_time"]              # fields that were found
    outcome = "Booked for {requested_time}."   # one sentence of the summary
    actions = ["Confirm {requested_time} with {name}."]

Conditions: `keywords`, `requires`, `emergency` (an emergency was detected), `caller_silent`
(the caller said nothing) and `shorter_than_s` (the call lasted less). Templates may use any
field, `{caller}` (the name field, else "the caller") and `{emergency}` (the phrase heard).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

DEFAULT_DISPOSITIONS = ("resolved", "escalated", "abandoned", "needs-callback")
FIELD_KINDS = ("regex", "name", "phone")
BUILTIN_PLACEHOLDERS = ("caller", "emergency", "disposition")
_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class TableReader(Protocol):
    """Typed access to one TOML table, failures naming the file and field: what these rules need
    of profiles.py's reader. A Protocol, so this module does not import profiles.py (which
    imports it: no cycle)."""

    data: dict[str, Any]

    def fail(self, key: str, problem: str) -> NoReturn: ...
    def flag(self, key: str, default: bool = False) -> bool: ...
    def phrases(self, key: str, default: list[str]) -> tuple[str, ...]: ...
    def reject_unknown(self, allowed: set[str]) -> None: ...
    def seconds(self, key: str, default: float) -> float: ...
    def tables(self, key: str) -> Sequence[TableReader]: ...
    def text(self, key: str, default: str | None = None) -> str: ...


@dataclass(frozen=True)
class FieldRule:
    """One thing to extract from the caller's turns (the last one found wins)."""

    name: str
    label: str
    kind: str = "regex"
    patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class DispositionRule:
    disposition: str
    keywords: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    emergency: bool | None = None
    caller_silent: bool | None = None
    shorter_than_s: float | None = None
    outcome: str = ""
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class SummaryRules:
    dispositions: tuple[str, ...] = DEFAULT_DISPOSITIONS
    default: str = "needs-callback"
    default_outcome: str = "The call ended without a clear outcome."
    default_actions: tuple[str, ...] = ()
    fields: tuple[FieldRule, ...] = ()
    rules: tuple[DispositionRule, ...] = ()

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


_SUMMARY_KEYS = {"dispositions", "default", "default_outcome", "default_actions", "fields",
                 "rules"}


def parse_summary(reader: TableReader) -> SummaryRules:
    """The `[summary]` table, validated; every failure names the file and the dotted field."""
    reader.reject_unknown(_SUMMARY_KEYS)
    base = SummaryRules()
    dispositions = _dispositions(reader)
    fields = _fields(reader)
    names = tuple(f.name for f in fields)
    default = reader.text("default", default=base.default)
    _check_in(reader, "default", default, dispositions)
    return SummaryRules(
        dispositions=dispositions,
        default=default,
        default_outcome=_template(reader, "default_outcome", names, base.default_outcome),
        default_actions=_templates(reader, "default_actions", names),
        fields=fields,
        rules=tuple(_rule(item, dispositions, names) for item in reader.tables("rules")),
    )


def _dispositions(reader: TableReader) -> tuple[str, ...]:
    values = reader.phrases("dispositions", default=list(DEFAULT_DISPOSITIONS))
    if not values:
        reader.fail("dispositions", "needs at least one disposition")
    for index, value in enumerate(values):
        if not _SLUG.match(value):
            reader.fail(f"dispositions[{index}]",
                        f"{value!r} is not a short lower-case word like needs-callback")
    if len(set(values)) != len(values):
        reader.fail("dispositions", "lists a disposition twice")
    return values


def _check_in(reader: TableReader, key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        reader.fail(key, f"{value!r} is not one of {', '.join(allowed)}")


def _fields(reader: TableReader) -> tuple[FieldRule, ...]:
    fields = tuple(_field(item) for item in reader.tables("fields"))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        reader.fail("fields", "names a field twice")
    return fields


def _field(reader: TableReader) -> FieldRule:
    reader.reject_unknown({"name", "label", "kind", "patterns"})
    name = reader.text("name")
    if not _FIELD_NAME.match(name) or name in BUILTIN_PLACEHOLDERS:
        reader.fail("name", f"{name!r} is not a field name like callback_number "
                            f"(and not one of {', '.join(BUILTIN_PLACEHOLDERS)})")
    kind = reader.text("kind", default="regex")
    _check_in(reader, "kind", kind, FIELD_KINDS)
    patterns = _patterns(reader)
    if kind == "regex" and not patterns:
        reader.fail("patterns", "a regex field needs at least one pattern")
    label = reader.text("label", default=name.replace("_", " "))
    return FieldRule(name=name, label=label, kind=kind, patterns=patterns)


def _patterns(reader: TableReader) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for index, text in enumerate(reader.phrases("patterns", default=[])):
        key = f"patterns[{index}]"
        try:
            pattern = re.compile(text.removeprefix("re:"), re.IGNORECASE)
        except re.error as error:
            reader.fail(key, f"bad regular expression: {error}")
        if pattern.groups == 0:
            reader.fail(key, "needs a group: (?P<value>...) or (...) around what to keep")
        compiled.append(pattern)
    return tuple(compiled)


_RULE_KEYS = {"disposition", "keywords", "requires", "emergency", "caller_silent",
              "shorter_than_s", "outcome", "actions"}


def _rule(reader: TableReader, dispositions: tuple[str, ...],
          names: tuple[str, ...]) -> DispositionRule:
    reader.reject_unknown(_RULE_KEYS)
    disposition = reader.text("disposition")
    _check_in(reader, "disposition", disposition, dispositions)
    requires = reader.phrases("requires", default=[])
    for index, name in enumerate(requires):
        _check_in(reader, f"requires[{index}]", name, names)
    rule = DispositionRule(
        disposition=disposition,
        keywords=reader.phrases("keywords", default=[]),
        requires=requires,
        emergency=_optional_flag(reader, "emergency"),
        caller_silent=_optional_flag(reader, "caller_silent"),
        shorter_than_s=reader.seconds("shorter_than_s", 600.0) if "shorter_than_s" in reader.data
        else None,
        outcome=_template(reader, "outcome", names, ""),
        actions=_templates(reader, "actions", names),
    )
    if not (rule.keywords or rule.requires or rule.shorter_than_s is not None
            or rule.emergency is not None or rule.caller_silent is not None):
        reader.fail("disposition", "a rule needs a condition (keywords, requires, emergency, "
                                   "caller_silent or shorter_than_s)")
    return rule


def _optional_flag(reader: TableReader, key: str) -> bool | None:
    return reader.flag(key) if key in reader.data else None


def _template(reader: TableReader, key: str, names: tuple[str, ...], default: str) -> str:
    text = reader.text(key, default=default) if default else reader.data.get(key, "")
    if not isinstance(text, str):
        reader.fail(key, f"must be a string, not {type(text).__name__}")
    _check_placeholders(reader, key, text, names)
    return text.strip()


def _templates(reader: TableReader, key: str, names: tuple[str, ...]) -> tuple[str, ...]:
    texts = reader.phrases(key, default=[])
    for index, text in enumerate(texts):
        _check_placeholders(reader, f"{key}[{index}]", text, names)
    return texts


def _check_placeholders(reader: TableReader, key: str, text: str, names: tuple[str, ...]) -> None:
    for name in _PLACEHOLDER.findall(text):
        if name not in names and name not in BUILTIN_PLACEHOLDERS:
            reader.fail(key, f"{{{name}}} is neither a field ({', '.join(names) or 'none'}) "
                             f"nor one of {', '.join(BUILTIN_PLACEHOLDERS)}")


def fill(template: str, values: dict[str, str], missing: str = "(not given)") -> str:
    """`{name}` placeholders replaced by their values; a value not found says so."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1)) or missing, template)

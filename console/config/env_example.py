"""`.env.example`, written from the settings model: every setting with its env name, its
default and its docstring, by group. Settings with no default (keys, numbers, URLs) are left
empty, ready to fill (an empty value means unset); the others are shown commented out.

    python -m console.config --env-example > .env.example
"""

from __future__ import annotations

import json
import textwrap
from enum import Enum
from pathlib import Path

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from console.config.names import env_name

HEADER = """\
# voiceconsole settings. Copy to .env and fill in what you have; everything is optional.
# With no keys at all, voiceconsole runs the embedded default: local speech recognition
# (faster-whisper), a local voice (Piper, or espeak-ng) and a scripted responder.
# `voiceconsole doctor` tells which tier each part runs on and what is missing.
#
# Every name is VOICECONSOLE_<GROUP>_<SETTING>; the vendors' own names (GROQ_API_KEY,
# DEEPGRAM_API_KEY, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER,
# EMERGENCY_FALLBACK_NUMBER, PUBLIC_URL, NGROK_AUTHTOKEN) are read too. An empty value means unset;
# a commented-out line shows the default.
# Generated from console/config/groups.py: python -m console.config --env-example > .env.example
"""
WIDTH = 100


def env_example(settings_cls: type[BaseModel]) -> str:
    """The whole file, one block per group, in the model's order."""
    blocks = [HEADER]
    for group, field in settings_cls.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        blocks.append(_group_block(group, model))
    return "\n".join(blocks)


def _group_block(group: str, model: type[BaseModel]) -> str:
    title = f"# --- {group} "
    lines = [title + "-" * (WIDTH - len(title)), *_comment(model.__doc__ or "")]
    for name, field in model.model_fields.items():
        lines += _comment(field.description or "")
        lines.append(_assignment(env_name(f"{group}_{name}"), _default(field)))
    return "\n".join(lines) + "\n"


def _assignment(name: str, default: str) -> str:
    """Empty (a key, a number, a URL to fill in): ready to fill. A default: commented out, so a
    copied file does not pin it and a later release's better default still reaches the user."""
    return f"# {name}={default}" if default else f"{name}="


def _comment(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [f"# {line}" for line in textwrap.wrap(flat, WIDTH - 2)] if flat else []


def _default(field: FieldInfo) -> str:
    """The default as .env spells it; empty for a secret, for unset, and for a default that
    depends on the machine (a folder, computed when the settings are read)."""
    value = field.default
    if value is PydanticUndefined:
        value = None if field.default_factory_takes_validated_data else field.get_default(
            call_default_factory=True)
    if value is None or isinstance(value, SecretStr | Path):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False) if value else ""
    return str(value)

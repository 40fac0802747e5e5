"""What goes into a reply: the LLM's answer, or a fixed line (greeting, apology, reprompt,
goodbye, the emergency company line, an operator's words).

A fixed line the agent may need at any moment is synthesized at start-up (see the runtime's
`_prepare_lines`) and played from that audio, never waiting on the TTS: those are the moments
(an outage, an emergency) when the TTS is least to be trusted. A line nobody prepared (an
operator's typed words) is synthesized as it is said.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Protocol

from console.calls.conversation import Conversation
from console.calls.ports import CallEvents, CallServices, GreetingSource
from console.calls.reply import AgentReply
from console.calls.state import CallState
from console.calls.voice import ReplyBody
from console.profiles import Profile
from console.providers.base import ProviderError, ProviderObserver


class LineSource(Protocol):
    """Whose prepared lines: the call's profile and its greetings."""

    profile: Profile

    @property
    def deps(self) -> CallServices: ...


class LinesHost(LineSource, ProviderObserver, Protocol):
    call_state: CallState
    conversation: Conversation
    events: CallEvents


def prepared(host: LineSource, text: str) -> bytes | None:
    source: GreetingSource = host.deps.greetings
    return source.cached(host.profile.name, text)


def fixed_line(host: LineSource, text: str) -> ReplyBody:
    """A reply body that says `text`: prepared audio when there is some."""

    async def body(reply: AgentReply) -> None:
        if (audio := prepared(host, text)) is not None:
            reply.play_audio(text, audio)
        else:
            await reply.play_text(text)

    return body


def answer(host: LinesHost) -> ReplyBody:
    """A reply body that answers the conversation so far with the LLM's words; the profile's
    apology (prepared) if the LLM fails."""

    async def body(reply: AgentReply) -> None:
        if host.call_state.muted:
            return
        reply.clock.stamp("llm_request", time.monotonic())
        try:
            await reply.play_tokens(_tokens(host))
        except ProviderError as error:
            host.events.degraded("llm", str(error), "apology")
            await fixed_line(host, host.profile.apology)(reply)

    return body


async def _tokens(host: LinesHost) -> AsyncGenerator[str, None]:
    messages = host.conversation.for_llm()
    async for token in host.deps.llm.reply(messages, observer=host):
        yield token

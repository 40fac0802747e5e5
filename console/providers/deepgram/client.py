"""What Deepgram's providers share: pointing the SDK at a base URL, and turning SDK failures into
short messages that never carry the API key. The providers live beside it: `stt` (Nova),
`flux` (Flux), `listen` (what the two recognizers share) and `tts` (Aura).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from deepgram.core.api_error import ApiError
from websockets.exceptions import ConnectionClosed

from console.providers.base import ProviderError

SAMPLE_RATE = 8000  # Twilio media: 8 kHz mu-law, one byte per sample


def environment_for(base_url: str | None) -> DeepgramClientEnvironment:
    """`http://host:port` (or https) -> the SDK environment; the WebSocket origin is derived
    (http->ws, https->wss). The SDK insists on all four URLs, even the unused agent ones."""
    if base_url is None:
        return DeepgramClientEnvironment.PRODUCTION
    parts = urlsplit(base_url.rstrip("/"))
    ws_scheme = "wss" if parts.scheme == "https" else "ws"
    http = f"{parts.scheme}://{parts.netloc}{parts.path}"
    ws = f"{ws_scheme}://{parts.netloc}{parts.path}"
    return DeepgramClientEnvironment(base=http, production=ws, agent=ws, agent_rest=http)


def make_client(api_key: str, base_url: str | None, **kwargs: Any) -> AsyncDeepgramClient:
    client = AsyncDeepgramClient(api_key=api_key, environment=environment_for(base_url), **kwargs)
    _build_headers_once(client)
    return client


def _build_headers_once(client: AsyncDeepgramClient) -> None:
    """The SDK rebuilds its request headers for every socket it opens, reading its own version
    from the installed package metadata each time (importlib.metadata parses the METADATA file:
    ~0.5 ms). That is two sockets per call, all on the event loop: 100 calls arriving together
    stalled every other call's audio for ~100 ms (measured with bench/scaling.py). The headers
    never change for a client, so build them once and hand out copies (the SDK adds to them)."""
    wrapper = getattr(client, "_client_wrapper", None)
    build = getattr(wrapper, "get_headers", None)
    if wrapper is None or build is None:  # another SDK layout: keep its own way of building them
        return
    headers = build()
    wrapper.get_headers = lambda: dict(headers)


def handshake_problem(exc: ApiError) -> str:
    """Describe a refused WebSocket handshake, or raise ProviderError when retrying is pointless
    (a bad key or bad parameters will be refused again)."""
    status = exc.status_code
    if status in (401, 403):
        raise ProviderError("Deepgram refused the API key") from None
    if status is not None and 400 <= status < 500 and status != 429:
        raise ProviderError(f"Deepgram rejected the request (HTTP {status})") from None
    return f"handshake refused (HTTP {status})"


def close_description(exc: ConnectionClosed) -> str:
    """`socket closed 1011 NET-0000`: Deepgram puts its error code in the close reason."""
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "socket closed without a close frame"
    return f"socket closed {frame.code} {frame.reason}".rstrip()


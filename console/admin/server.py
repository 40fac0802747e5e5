"""The local admin endpoint: `voiceconsole control` acts on live calls through it.

A small aiohttp app on its own runner, bound to 127.0.0.1 only (never the media server's
interface, which may face the internet through the tunnel), guarded by a bearer token compared
in constant time. Routes:

    GET  /calls               -> {"calls": [{"call_sid": ..., "state": ..., ...}]}
    POST /calls/{sid}/{action}  JSON body for arguments: say/whisper/edit {"text"},
                                transfer {"number"}, warm-transfer {"number", "reason"?}
    GET  /info, GET /events?call=SID...  where a drill dials, and the named calls' events as
                              they happen (feed.py; `voiceconsole drill`)

The actor recorded with each action is "cli", or the `X-Actor` header. Answers: 200 done;
400 unknown action (listing the valid ones) or a missing argument; 401 bad token; 404 no such
live call; 502 the call refused (the control raised), with its message.

The control object is duck-typed (a `console.calls` CallControl such as LiveCalls): the admin API
never imports the call code. The URL and token reach the CLI through a 0600 JSON "admin file"
next to the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from aiohttp import web
from aiohttp.typedefs import Handler

from console.admin.feed import EventFeeds, Subscribe
from console.config import Settings
from console.profiles import Profile
from console.streams import StreamStart

log = logging.getLogger(__name__)

HOST = "127.0.0.1"  # local only: the token is a second lock, not the first
DEFAULT_ACTOR = "cli"
MAX_BODY_BYTES = 16 * 1024  # a say/whisper text; nothing bigger belongs here
ADMIN_FILE_NAME = "admin.json"
MAX_REASON_CHARS = 200  # a warm transfer's reason is said to the target: a sentence, not a story



class AdminControl(Protocol):
    """What the routes need of the control: the operator's actions on a live call. The calls
    ring's CallControl (LiveCalls) has them; declared here, this ring imports no call code."""

    def live_calls(self) -> list[str]: ...
    async def take_over(self, call_sid: str, actor: str) -> None: ...
    async def hand_back(self, call_sid: str, actor: str) -> None: ...
    async def mute_agent(self, call_sid: str, muted: bool, actor: str) -> None: ...
    async def pause_listening(self, call_sid: str, paused: bool, actor: str) -> None: ...
    async def say(self, call_sid: str, text: str, actor: str) -> None: ...
    async def whisper(self, call_sid: str, guidance: str, actor: str) -> None: ...
    async def transfer(self, call_sid: str, number: str, actor: str) -> None: ...
    async def warm_transfer(self, call_sid: str, number: str, actor: str,
                            reason: str = "") -> None: ...
    async def hang_up(self, call_sid: str, actor: str) -> None: ...
    async def gate_replies(self, call_sid: str, on: bool, actor: str) -> None: ...
    async def decide_reply(self, call_sid: str, decision: str, text: str, actor: str) -> None: ...
    async def acknowledge(self, call_sid: str, actor: str, how: str = "") -> None: ...


class LiveCall(Protocol):
    """A live call as GET /calls describes it (the calls ring's CallSession)."""

    @property
    def sid(self) -> str: ...
    @property
    def start_info(self) -> StreamStart: ...
    @property
    def profile(self) -> Profile: ...
    @property
    def state(self) -> str: ...
    @property
    def operator_mode(self) -> bool: ...
    @property
    def agent_muted(self) -> bool: ...
    @property
    def listening_paused(self) -> bool: ...


@runtime_checkable
class WithSessions(Protocol):
    """A control that shows its calls' state (LiveCalls does)."""

    def sessions(self) -> Sequence[LiveCall]: ...


Act = Callable[[AdminControl, str, dict[str, str], str], Awaitable[None]]

# action -> (the control call, the JSON argument it needs or None)
ACTIONS: dict[str, tuple[Act, str | None]] = {
    "take-over": (lambda c, sid, a, who: c.take_over(sid, who), None),
    "hand-back": (lambda c, sid, a, who: c.hand_back(sid, who), None),
    "mute": (lambda c, sid, a, who: c.mute_agent(sid, True, who), None),
    "unmute": (lambda c, sid, a, who: c.mute_agent(sid, False, who), None),
    "pause-listening": (lambda c, sid, a, who: c.pause_listening(sid, True, who), None),
    "resume-listening": (lambda c, sid, a, who: c.pause_listening(sid, False, who), None),
    "say": (lambda c, sid, a, who: c.say(sid, a["text"], who), "text"),
    "whisper": (lambda c, sid, a, who: c.whisper(sid, a["text"], who), "text"),
    "transfer": (lambda c, sid, a, who: c.transfer(sid, a["number"], who), "number"),
    # issue 15: hold the caller, brief the target ({"number", "reason"?}), join them
    "warm-transfer": (lambda c, sid, a, who: c.warm_transfer(sid, a["number"], who,
                                                             a.get("reason", "")), "number"),
    "hang-up": (lambda c, sid, a, who: c.hang_up(sid, who), None),
    # Approve-before-speak (issue 15): gate the call's replies, decide on the one waiting.
    "gate-on": (lambda c, sid, a, who: c.gate_replies(sid, True, who), None),
    "gate-off": (lambda c, sid, a, who: c.gate_replies(sid, False, who), None),
    "approve": (lambda c, sid, a, who: c.decide_reply(sid, "approve", "", who), None),
    "edit": (lambda c, sid, a, who: c.decide_reply(sid, "edit", a["text"], who), "text"),
    "reject": (lambda c, sid, a, who: c.decide_reply(sid, "reject", "", who), None),
    # issue 15 (drills): the operator saw the call's alert; recorded, nothing else happens.
    "acknowledge": (lambda c, sid, a, who: c.acknowledge(sid, who), None),
}


class _Refused(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **extra}


class AdminServer:
    """Serve the admin routes for `control` on 127.0.0.1:`port` (0 = any free port).
    With `admin_file`, the URL and token are written there on start and removed on stop."""

    def __init__(
        self, control: AdminControl, token: str | None = None, port: int = 0, *,
        admin_file: Path | None = None, events: Subscribe | None = None,
        info: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.control = control
        self.token = token or secrets.token_urlsafe(32)
        self.port = port
        self.admin_file = admin_file
        self.app = web.Application(middlewares=[self._guard], client_max_size=MAX_BODY_BYTES)
        self.app.add_routes(
            [web.get("/calls", self._list), web.post("/calls/{sid}/{action}", self._act)]
        )
        self._runner: web.AppRunner | None = None
        self.feeds = EventFeeds(events, info)  # issue 15: what `voiceconsole drill` follows
        self.feeds.add_routes(self.app)

    name = "admin"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def describe(self) -> str:
        return f"voiceconsole control -> {self.url}"

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self.admin_file is not None:
            await asyncio.to_thread(write_admin_file, self.admin_file, self.url, self.token)
        log.info("admin endpoint on %s", self.url)
        return self.port

    async def stop(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        self.feeds.close()  # open feeds end now, or cleanup would wait for them
        if self.admin_file is not None:
            await asyncio.to_thread(remove_admin_file, self.admin_file, self.url)
        await runner.cleanup()

    # --- routes --------------------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._authorized(request.headers.get("Authorization", "")):
            return web.json_response(
                {"error": "missing or wrong admin token"}, status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            return await handler(request)
        except _Refused as refused:
            return web.json_response(refused.body, status=refused.status)

    def _authorized(self, header: str) -> bool:
        scheme, _, given = header.partition(" ")
        expected = self.token.encode()
        # compare_digest on bytes: its time does not depend on where a wrong token differs.
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"calls": describe_calls(self.control)})

    async def _act(self, request: web.Request) -> web.Response:
        sid, action = request.match_info["sid"], request.match_info["action"]
        act, needs = _action(action)
        args = _arguments(await _json_body(request), action, needs)
        if sid not in self.control.live_calls():
            raise _Refused(404, f"no live call {sid}")
        actor = request.headers.get("X-Actor", "").strip()[:40] or DEFAULT_ACTOR
        await self._run(act, sid, args, actor, action)
        return web.json_response({"ok": True, "call_sid": sid, "action": action, "actor": actor})

    async def _run(self, act: Act, sid: str, args: dict[str, str], actor: str, name: str) -> None:
        try:
            await act(self.control, sid, args, actor)
        except LookupError as error:  # the call ended between the check and the action
            raise _Refused(404, str(error) or f"no live call {sid}") from None
        except Exception as error:  # noqa: BLE001 - the operator sees why the call refused
            log.warning("admin %s on %s failed: %s", name, sid, error)
            raise _Refused(502, str(error) or type(error).__name__) from None


def _action(name: str) -> tuple[Act, str | None]:
    if name not in ACTIONS:
        raise _Refused(400, f"unknown action {name!r}", actions=sorted(ACTIONS))
    return ACTIONS[name]


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise _Refused(400, "the body must be a JSON object") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _Refused(400, "the body must be a JSON object")
    return body


def _arguments(body: dict[str, Any], action: str, needs: str | None) -> dict[str, str]:
    if needs is None:
        return {}
    value = body.get(needs)
    if not isinstance(value, str) or not value.strip():
        raise _Refused(400, f"{action} needs {needs!r} in the JSON body")
    reason = body.get("reason")  # warm-transfer's optional reason, said to the target
    if isinstance(reason, str) and reason.strip():
        return {needs: value.strip(), "reason": reason.strip()[:MAX_REASON_CHARS]}
    return {needs: value.strip()}


def describe_calls(control: AdminControl) -> list[dict[str, str | bool | None]]:
    """Live calls, with their state when the control exposes its sessions (LiveCalls does)."""
    if not isinstance(control, WithSessions):
        return [{"call_sid": sid} for sid in control.live_calls()]
    return [_describe(session) for session in control.sessions()]


def _describe(session: LiveCall) -> dict[str, str | bool | None]:
    return {
        "call_sid": session.sid,
        "state": session.state,
        "operator_mode": session.operator_mode,
        "agent_muted": session.agent_muted,
        "listening_paused": session.listening_paused,
        "caller": session.start_info.custom_parameters.get("caller") or None,
        "profile": session.profile.name,
    }


# --- the admin file ----------------------------------------------------------------------------
@dataclass(frozen=True)
class AdminFile:
    url: str
    token: str
    pid: int = 0


def admin_file_path(settings: Settings) -> Path:
    """`admin.json` next to the database (data/ by default)."""
    return Path(settings.data.db).parent / ADMIN_FILE_NAME


def write_admin_file(path: Path, url: str, token: str) -> None:
    """Blocking (call it in a thread). Created 0600 before any byte is written, then renamed into
    place, so the token is never readable by others, not even for a moment."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"url": url, "token": token, "pid": os.getpid()}).encode()
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(body)
    os.chmod(temporary, 0o600)  # O_CREAT's mode is ignored when the file already existed
    os.replace(temporary, path)


def read_admin_file(path: Path) -> AdminFile | None:
    """The running console's admin URL and token; None when there is no (readable) file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return AdminFile(str(data["url"]), str(data["token"]), int(data.get("pid", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_admin_file(path: Path, url: str) -> None:
    """Remove the file if it is still ours (another instance may have replaced it)."""
    current = read_admin_file(path)
    if current is not None and current.url == url:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

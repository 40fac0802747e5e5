"""`voiceconsole control`: act on live calls of a running voiceconsole from another terminal.

    voiceconsole control list [--json]
    voiceconsole control SID ACTION [TEXT]
        ACTION: take-over hand-back mute unmute pause-listening resume-listening
                say TEXT  whisper TEXT  transfer NUMBER  warm-transfer NUMBER [REASON]
                hang-up  gate-on gate-off  approve  edit TEXT  reject   (gated replies)
                acknowledge   (the operator saw the call's alert; drills time it)

It talks to the running process's local admin endpoint. The URL and token come from the admin
file the process writes next to its database (data/admin.json), or from --url/--token, or the
VOICECONSOLE_SERVER_ADMIN_TOKEN setting. Plain urllib: a CLI makes one request and exits.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from console.safe_text import json_printable, printable

LIST_TIMEOUT_S = 5.0
# `say` returns once the line is spoken or queued; TTS of a long sentence can take seconds.
ACTION_TIMEOUT_S = 30.0
NEEDS = {"say": "text", "whisper": "text", "transfer": "number", "edit": "text",
         "warm-transfer": "number"}


class ControlError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str | None
    source: str  # where the URL came from, for error messages


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "control",
        help="act on a live call of a running voiceconsole",
        description="List live calls, or act on one: take-over, hand-back, mute, unmute, "
        "pause-listening, resume-listening, say TEXT, whisper TEXT, transfer NUMBER, "
        "warm-transfer NUMBER [REASON], hang-up; "
        "gated replies: gate-on, gate-off, approve, edit TEXT, reject; acknowledge.",
    )
    parser.add_argument("target", metavar="list|SID", help="'list', or the call SID (CA...)")
    parser.add_argument("action", nargs="?", metavar="ACTION", help="what to do with the call")
    parser.add_argument("words", nargs="*", metavar="TEXT", help="text to say/whisper, or number")
    parser.add_argument("--json", action="store_true", help="list: print JSON")
    parser.add_argument("--url", help="admin endpoint URL (default: from the admin file)")
    parser.add_argument("--token", help="admin token (default: admin file, or "
                        "VOICECONSOLE_SERVER_ADMIN_TOKEN)")
    parser.add_argument("--admin-file", type=Path, help="default: admin.json next to the DB")
    parser.add_argument("--actor", default="cli", help="who is acting, as recorded (cli)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        endpoint = _endpoint(args)
        if args.target == "list" and args.action is None:
            return _list(endpoint, args.json)
        return _act(endpoint, args)
    except ControlError as error:
        print(printable(error), file=sys.stderr)  # it may quote the server, or a call
        return error.code


# --- what to call ------------------------------------------------------------------------------
def _endpoint(args: argparse.Namespace) -> Endpoint:
    from console.admin.server import admin_file_path, read_admin_file
    from console.config import load_settings

    settings = load_settings()
    path = args.admin_file or admin_file_path(settings)
    found = read_admin_file(path)
    url = args.url or (found.url if found else None)
    if not url:
        raise ControlError(f"voiceconsole is not running (no admin endpoint at {path})")
    from_file = found.token if found and found.url == url.rstrip("/") else None
    admin_token = settings.server.admin_token
    configured = admin_token.get_secret_value() if admin_token else None
    token = args.token or from_file or configured
    return Endpoint(url.rstrip("/"), token, args.url or str(path))


def _body(action: str, words: list[str]) -> dict[str, str]:
    needs = NEEDS.get(action)
    if needs is None:
        if words:
            raise ControlError(f"{action} takes no text (got {' '.join(words)!r})", code=2)
        return {}
    text = " ".join(words).strip()
    if not text:
        raise ControlError(f"{action} needs {needs.upper()}", code=2)
    if action == "warm-transfer":  # the number, then the reason the target is told, if any
        number, _, reason = text.partition(" ")
        return {needs: number, "reason": reason.strip()} if reason.strip() else {needs: number}
    return {needs: text}


# --- commands ----------------------------------------------------------------------------------
def _list(endpoint: Endpoint, as_json: bool) -> int:
    calls = _request(endpoint, "GET", "/calls", None, LIST_TIMEOUT_S, sid=None)["calls"]
    if as_json:
        print(json_printable(json.dumps(calls, indent=2, ensure_ascii=False)))
    elif calls:
        print(format_calls(calls))
    else:
        print("no live calls")
    return 0


def _act(endpoint: Endpoint, args: argparse.Namespace) -> int:
    sid, action = args.target, args.action
    if not action:
        raise ControlError("give an ACTION after the call SID (or use 'control list')", code=2)
    body = _body(action, args.words)
    path = f"/calls/{quote(sid, safe='')}/{quote(action, safe='')}"
    headers = {"X-Actor": args.actor}
    _request(endpoint, "POST", path, body, ACTION_TIMEOUT_S, sid=sid, headers=headers)
    print(f"{action}: done for {sid}")
    return 0


# --- HTTP --------------------------------------------------------------------------------------
def _request(
    endpoint: Endpoint, method: str, path: str, body: dict[str, str] | None,
    timeout_s: float, *, sid: str | None, headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    request = urllib.request.Request(
        endpoint.url + path, method=method, headers=dict(headers or {}),
        data=json.dumps(body).encode() if body is not None else None,
    )
    request.add_header("Content-Type", "application/json")
    if endpoint.token:
        request.add_header("Authorization", f"Bearer {endpoint.token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer: dict[str, Any] = json.loads(response.read() or b"{}")  # a JSON object
            return answer
    except urllib.error.HTTPError as error:
        raise _refusal(error, endpoint, sid) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            raise ControlError(f"no answer from {endpoint.url} within {timeout_s:g} s") from None
        raise ControlError(
            f"voiceconsole is not running (no admin endpoint at {endpoint.url})"
        ) from None


def _refusal(error: urllib.error.HTTPError, endpoint: Endpoint, sid: str | None) -> ControlError:
    body = _json_or_empty(error.read())
    message = str(body.get("error") or error.reason)
    if error.code == 401:
        return ControlError(
            f"the admin endpoint refused the token (give --token, set "
            f"VOICECONSOLE_SERVER_ADMIN_TOKEN, or check {endpoint.source})"
        )
    if error.code == 404:
        return ControlError(f"no live call {sid}" if sid else message)
    if error.code == 400:
        valid = body.get("actions")
        return ControlError(message + (f"; valid actions: {', '.join(valid)}" if valid else ""), 2)
    return ControlError(f"the call refused: {message}" if error.code == 502 else message)


def _json_or_empty(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


# --- output ------------------------------------------------------------------------------------
COLUMNS = (("CALL SID", "call_sid"), ("STATE", "state"), ("MODE", "mode"),
           ("CALLER", "caller"), ("PROFILE", "profile"))


def format_calls(calls: list[dict[str, Any]]) -> str:
    rows = [[title for title, _ in COLUMNS]]
    rows += [[_cell(call, key) for _, key in COLUMNS] for call in calls]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _cell(call: dict[str, Any], key: str) -> str:
    if key == "mode":
        return _mode(call)
    value = call.get(key)
    return "-" if value in (None, "") else printable(value)  # a caller's number is theirs


def _mode(call: dict[str, Any]) -> str:
    flags = [
        "operator" if call.get("operator_mode") else "agent",
        "muted" if call.get("agent_muted") else "",
        "not-listening" if call.get("listening_paused") else "",
    ]
    return ",".join(flag for flag in flags if flag)

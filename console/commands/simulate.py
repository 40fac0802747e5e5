"""`voiceconsole simulate`: place a simulated Twilio call against a media server.

    voiceconsole simulate --url ws://127.0.0.1:8765/media --line "I'd like an appointment" --json

Lines (espeak-ng) and WAV files are spoken in the order given. Exit codes: 0 call completed,
1 the call failed (could not connect, no replies), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when the command runs
    from console.simulate.caller import CallerOptions

EXIT_BAD_ARGS = 2
_DTMF = re.compile(r"^[0-9*#A-D]*$")
_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


class _Ordered(argparse.Action):
    """--wav and --line append to one list, so the script keeps the order they were typed."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 value: str | Sequence[Any] | None, option: str | None = None) -> None:
        items = list(getattr(namespace, "script", None) or [])
        items.append((self.const, value))
        namespace.script = items


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="place a simulated Twilio call against a media server",
        description="Dial a Twilio Media Streams server as Twilio would, speak, print a summary.",
    )
    p.add_argument("--url", required=True, help="media WebSocket, e.g. ws://127.0.0.1:8765/media")
    p.add_argument("--token", help="Twilio auth token to sign the upgrade (default: settings)")
    p.add_argument("--signed-url", help="URL the server validates, e.g. wss://abc.ngrok.app/media")
    p.add_argument("--wav", action=_Ordered, const="wav", metavar="FILE", help="speak a WAV file")
    p.add_argument("--line", action=_Ordered, const="line", metavar="TEXT", help="speak TEXT")
    p.add_argument("--barge-in-ms", type=float, help="talk over each reply after this many ms")
    p.add_argument("--dtmf", default="", help="keys to press after speaking, e.g. 12#")
    p.add_argument("--fast", action="store_true", help="no real-time pacing (tests, benches)")
    p.add_argument("--record", type=Path, help="write what the caller heard to this WAV")
    p.add_argument("--from", dest="from_number", default="+15550001111", help="caller number")
    p.add_argument("--to", dest="to_number", default="+15550002222", help="called number")
    p.add_argument("--call-sid", help="CA + 32 hex (default: random)")
    p.add_argument(
        "--greeting-timeout",
        type=float,
        default=3.0,
        help="seconds to wait for the agent to greet before speaking (0: do not wait)",
    )
    p.add_argument("--reply-timeout", type=float, default=10.0, help="seconds to wait per reply")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run, script=[])


class ArgumentProblem(ValueError):
    pass


def _check(args: argparse.Namespace) -> None:
    if not args.url.startswith(("ws://", "wss://")):
        raise ArgumentProblem(f"--url must start with ws:// or wss:// (got {args.url!r})")
    if not _DTMF.match(args.dtmf):
        raise ArgumentProblem(f"--dtmf takes 0-9 * # A-D only (got {args.dtmf!r})")
    if args.call_sid and not _SID.match(args.call_sid):
        raise ArgumentProblem("--call-sid must be CA followed by 32 hex digits")
    for kind, value in args.script:
        if kind == "wav" and not Path(value).is_file():
            raise ArgumentProblem(f"--wav {value}: no such file")
        if kind == "line" and not value.strip():
            raise ArgumentProblem("--line needs some text")


def _render(kind: str, value: str) -> bytes:
    from console.simulate.voice import render_line
    from console.simulate.wav import read_wav_as_mulaw

    return read_wav_as_mulaw(Path(value)) if kind == "wav" else render_line(value)


def _default_token(args: argparse.Namespace) -> str | None:
    if args.token is not None:
        return args.token or None
    from console.config import load_settings

    token = load_settings().twilio.auth_token
    return token.get_secret_value() if token else None


def _options(args: argparse.Namespace) -> CallerOptions:
    from console.simulate.caller import CallerOptions, Utterance

    utterances = [
        Utterance(
            _render(kind, value),
            barge_in_after_ms=args.barge_in_ms if i else None,
            label=value[:40],
        )
        for i, (kind, value) in enumerate(args.script)
    ]
    options = CallerOptions(
        url=args.url,
        auth_token=_default_token(args),
        signed_url=args.signed_url,
        from_number=args.from_number,
        to_number=args.to_number,
        fast=args.fast,
        utterances=utterances,
        dtmf=args.dtmf,
        record_path=args.record,
        reply_timeout_s=args.reply_timeout,
        wait_for_greeting=args.greeting_timeout > 0,
        greeting_timeout_s=args.greeting_timeout,
    )
    if args.call_sid:
        options.call_sid = args.call_sid
    if options.auth_token:  # a signed server binds streams to our account (and /voice's ticket)
        options.account_sid = _account_sid() or options.account_sid
    return options


def _account_sid() -> str | None:
    from console.config import load_settings

    return load_settings().twilio.account_sid


def _print(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"call {summary['call_sid']}: ended by {summary['ended_by']}, "
        f"{summary['duration_ms']} ms, sent {summary['frames_sent']} frames, "
        f"received {summary['frames_received']}, marks echoed {len(summary['marks_echoed'])}"
    )
    for u in summary["utterances"]:
        print(f"  utterance {u['index']}: reply after {u['reply_latency_ms']} ms")
    for error in summary["errors"]:
        print(f"  error: {error}")


def run(args: argparse.Namespace) -> int:
    from console.simulate.caller import SimulatedCaller
    from console.simulate.voice import VoiceUnavailable
    from console.simulate.wav import WavError

    try:
        _check(args)
        options = _options(args)
    except (ArgumentProblem, VoiceUnavailable, WavError, OSError) as problem:
        print(f"voiceconsole simulate: {problem}", file=sys.stderr)
        return EXIT_BAD_ARGS
    summary = asyncio.run(SimulatedCaller(options).run())
    _print(summary, args.json)
    return 0 if summary["connected"] and not summary["errors"] else 1

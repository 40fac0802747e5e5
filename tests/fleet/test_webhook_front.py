"""The Twilio number's voice webhook in a fleet: every worker points it at the fleet's front
(never at its own address, which would take the number from the other workers), and leaves it
there when it stops, since the others still answer it. One process still restores it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from console.config import load_settings
from console.lifecycle import PublicEdge
from tests.fakes.twilio_rest_fake import FakeTwilioRest

NUMBER = "+15550001111"
OLD_URL = "https://old.example.com/voice"
FRONT = "https://voice.example.com"
WORKER = "https://worker-1.example.com"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioRest]:
    async with FakeTwilioRest() as fake:
        yield fake


def _edge(twilio: FakeTwilioRest, tmp_path: Any, **fleet: str) -> PublicEdge:
    settings = load_settings(
        _env_file=None, data_db=tmp_path / "calls.db", public_url=WORKER,
        twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
        twilio_phone_number=NUMBER, twilio_api_base_url=twilio.base_url, **fleet)
    return PublicEdge(settings)


async def _open_and_close(edge: PublicEdge, seen: dict[str, str]) -> None:
    said: list[str] = []
    await edge.open(0, lambda step, status: said.append(f"{step}: {status}"))
    seen["while_up"] = said[-1] if said else ""
    await edge.close()


async def test_a_fleet_worker_points_the_number_at_the_front_and_leaves_it_there(
        twilio: FakeTwilioRest, tmp_path: Any) -> None:
    number = twilio.add_number(NUMBER, voice_url=OLD_URL)
    seen: dict[str, str] = {}
    edge = _edge(twilio, tmp_path, fleet_url="redis://127.0.0.1:1/0", fleet_front_url=FRONT)
    await _open_and_close(edge, seen)
    assert f"-> {FRONT}/voice" in seen["while_up"]
    assert number["voice_url"] == f"{FRONT}/voice"  # still the front's after the worker left


async def test_a_fleet_worker_with_no_front_leaves_the_number_alone_and_says_so(
        twilio: FakeTwilioRest, tmp_path: Any) -> None:
    number = twilio.add_number(NUMBER, voice_url=OLD_URL)
    seen: dict[str, str] = {}
    await _open_and_close(_edge(twilio, tmp_path, fleet_url="redis://127.0.0.1:1/0"), seen)
    assert "no VOICECONSOLE_FLEET_FRONT_URL" in seen["while_up"]
    assert number["voice_url"] == OLD_URL
    assert not [r for r in twilio.requests if r.kind == "number-update"]


async def test_one_process_points_the_number_at_itself_and_restores_it(
        twilio: FakeTwilioRest, tmp_path: Any) -> None:
    number = twilio.add_number(NUMBER, voice_url=OLD_URL)
    seen: dict[str, str] = {}
    await _open_and_close(_edge(twilio, tmp_path), seen)
    assert f"-> {WORKER}/voice" in seen["while_up"]
    assert number["voice_url"] == OLD_URL

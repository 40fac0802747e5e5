"""The local admin endpoint over real sockets, and `voiceconsole control` against it.

The CLI is synchronous (urllib), so it runs in a thread while the endpoint serves on this loop,
exactly as when it runs in another terminal.
"""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from console import cli
from console import events as ev
from console.admin.server import (
    ACTIONS,
    AdminServer,
    admin_file_path,
    read_admin_file,
    write_admin_file,
)
from console.calls.live import LiveCalls
from console.config import load_settings
from tests.unit.session_fakes import make_harness

pytestmark = pytest.mark.timeout(20)

CALL = "CA" + "a" * 32
OTHER = "CA" + "b" * 32
TOKEN = "s3cret-admin-token"


@dataclass
class FakeControl:
    """A CallControl that records what it was asked; `fail` makes every action raise."""

    calls: list[str] = field(default_factory=lambda: [CALL])
    done: list[tuple[Any, ...]] = field(default_factory=list)
    fail: Exception | None = None

    def live_calls(self) -> list[str]:
        return list(self.calls)

    def _did(self, *what: Any) -> None:
        if self.fail is not None:
            raise self.fail
        self.done.append(what)

    async def take_over(self, sid: str, actor: str) -> None:
        self._did("take_over", sid, actor)

    async def hand_back(self, sid: str, actor: str) -> None:
        self._did("hand_back", sid, actor)

    async def mute_agent(self, sid: str, muted: bool, actor: str) -> None:
        self._did("mute_agent", sid, muted, actor)

    async def pause_listening(self, sid: str, paused: bool, actor: str) -> None:
        self._did("pause_listening", sid, paused, actor)

    async def say(self, sid: str, text: str, actor: str) -> None:
        self._did("say", sid, text, actor)

    async def whisper(self, sid: str, guidance: str, actor: str) -> None:
        self._did("whisper", sid, guidance, actor)

    async def transfer(self, sid: str, number: str, actor: str) -> None:
        self._did("transfer", sid, number, actor)

    async def warm_transfer(self, sid: str, number: str, actor: str, reason: str = "") -> None:
        self._did("warm_transfer", sid, number, reason, actor)

    async def hang_up(self, sid: str, actor: str) -> None:
        self._did("hang_up", sid, actor)

    async def gate_replies(self, sid: str, on: bool, actor: str) -> None:
        self._did("gate_replies", sid, on, actor)

    async def decide_reply(self, sid: str, decision: str, text: str, actor: str) -> None:
        self._did("decide_reply", sid, decision, text, actor)


@dataclass
class Admin:
    server: AdminServer
    control: Any
    http: aiohttp.ClientSession
    admin_file: Path

    async def call(self, method: str, path: str, *, token: str | None = TOKEN,
                   body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        async with self.http.request(
            method, self.server.url + path, json=body, headers=sent
        ) as reply:
            return reply.status, await reply.json()

    async def control_cli(self, *argv: str) -> int:
        return await asyncio.to_thread(cli.main, ["control", *argv])


@pytest.fixture
def db_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI finds the admin file next to VOICECONSOLE_DATA_DB, as a real install does."""
    monkeypatch.setenv("VOICECONSOLE_DATA_DB", str(tmp_path / "calls.db"))
    monkeypatch.delenv("VOICECONSOLE_SERVER_ADMIN_TOKEN", raising=False)
    return tmp_path


async def _serve(control: Any, db_dir: Path) -> AsyncIterator[Admin]:
    path = admin_file_path(load_settings())
    server = AdminServer(control, TOKEN, admin_file=path)
    await server.start()
    async with aiohttp.ClientSession() as http:
        yield Admin(server, control, http, path)
    await server.stop()


@pytest.fixture
async def admin(db_dir: Path) -> AsyncIterator[Admin]:
    async for made in _serve(FakeControl(), db_dir):
        yield made


# --- the endpoint --------------------------------------------------------------------------------
async def test_requests_without_the_right_bearer_token_are_refused_with_401(admin: Admin):
    assert (await admin.call("GET", "/calls", token=None))[0] == 401
    assert (await admin.call("GET", "/calls", token="wrong"))[0] == 401
    status, body = await admin.call("POST", f"/calls/{CALL}/hang-up", token=TOKEN[:-1])
    assert status == 401 and body == {"error": "missing or wrong admin token"}
    assert admin.control.done == []


async def test_the_endpoint_listens_on_loopback_only(admin: Admin):
    assert admin.server.url.startswith("http://127.0.0.1:")
    assert all(host == "127.0.0.1" for host, _ in admin.server._runner.addresses)


async def test_listing_a_plain_control_gives_the_live_call_sids(admin: Admin):
    admin.control.calls = [CALL, OTHER]
    status, body = await admin.call("GET", "/calls")
    assert status == 200
    assert body == {"calls": [{"call_sid": CALL}, {"call_sid": OTHER}]}


@pytest.mark.parametrize(
    ("action", "body", "expected"),
    [
        ("take-over", None, ("take_over", CALL, "cli")),
        ("hand-back", None, ("hand_back", CALL, "cli")),
        ("mute", None, ("mute_agent", CALL, True, "cli")),
        ("unmute", {}, ("mute_agent", CALL, False, "cli")),
        ("pause-listening", None, ("pause_listening", CALL, True, "cli")),
        ("resume-listening", None, ("pause_listening", CALL, False, "cli")),
        ("say", {"text": "Please hold"}, ("say", CALL, "Please hold", "cli")),
        ("whisper", {"text": "offer a refund"}, ("whisper", CALL, "offer a refund", "cli")),
        ("transfer", {"number": "+15551234567"}, ("transfer", CALL, "+15551234567", "cli")),
        ("hang-up", None, ("hang_up", CALL, "cli")),
        ("gate-on", None, ("gate_replies", CALL, True, "cli")),
        ("gate-off", None, ("gate_replies", CALL, False, "cli")),
        ("approve", None, ("decide_reply", CALL, "approve", "", "cli")),
        ("edit", {"text": "Two a day"}, ("decide_reply", CALL, "edit", "Two a day", "cli")),
        ("reject", None, ("decide_reply", CALL, "reject", "", "cli")),
        ("warm-transfer", {"number": "billing"}, ("warm_transfer", CALL, "billing", "", "cli")),
        ("warm-transfer", {"number": "+15551234567", "reason": " refund "},
         ("warm_transfer", CALL, "+15551234567", "refund", "cli")),
    ],
)
async def test_each_action_reaches_the_control_with_its_arguments_as_the_cli_actor(
    admin: Admin, action: str, body: Any, expected: tuple[Any, ...]
):
    status, answer = await admin.call("POST", f"/calls/{CALL}/{action}", body=body)
    assert status == 200
    assert answer == {"ok": True, "call_sid": CALL, "action": action, "actor": "cli"}
    assert admin.control.done == [expected]


async def test_the_x_actor_header_names_who_acted(admin: Admin):
    await admin.call("POST", f"/calls/{CALL}/take-over", headers={"X-Actor": "alice"})
    assert admin.control.done == [("take_over", CALL, "alice")]


async def test_an_unknown_call_is_a_404_json_error(admin: Admin):
    status, body = await admin.call("POST", f"/calls/{OTHER}/hang-up")
    assert status == 404 and body == {"error": f"no live call {OTHER}"}
    assert admin.control.done == []


async def test_an_unknown_action_is_a_400_listing_the_valid_ones(admin: Admin):
    status, body = await admin.call("POST", f"/calls/{CALL}/explode")
    assert status == 400
    assert body["error"] == "unknown action 'explode'"
    assert body["actions"] == sorted(ACTIONS) and "take-over" in body["actions"]


@pytest.mark.parametrize("body", [None, {"text": "   "}, {"text": 5}, ["Please hold"]])
async def test_say_without_usable_text_is_a_400_and_nothing_is_said(admin: Admin, body: Any):
    status, answer = await admin.call("POST", f"/calls/{CALL}/say", body=body)
    assert status == 400
    expected = ("say needs 'text' in the JSON body", "the body must be a JSON object")
    assert answer["error"] in expected
    assert admin.control.done == []


async def test_a_control_that_raises_is_a_502_carrying_its_message(admin: Admin):
    admin.control.fail = RuntimeError("transfer needs Twilio credentials")
    status, body = await admin.call("POST", f"/calls/{CALL}/transfer", body={"number": "+1555"})
    assert status == 502 and body == {"error": "transfer needs Twilio credentials"}


async def test_a_call_that_ends_mid_request_is_a_404_not_a_502(admin: Admin):
    admin.control.fail = LookupError(f"no live call {CALL}")
    status, body = await admin.call("POST", f"/calls/{CALL}/mute")
    assert status == 404 and body == {"error": f"no live call {CALL}"}


# --- the admin file ------------------------------------------------------------------------------
async def test_the_admin_file_holds_url_and_token_for_the_owner_only_and_goes_away_on_stop(
    db_dir: Path,
):
    path = db_dir / "admin.json"
    server = AdminServer(FakeControl(), None, admin_file=path)
    await server.start()
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        found = read_admin_file(path)
        assert found is not None and (found.url, found.token) == (server.url, server.token)
        assert len(server.token) >= 32  # generated when none is configured
    finally:
        await server.stop()
    assert not path.exists()
    assert read_admin_file(path) is None


def test_an_admin_file_left_by_another_instance_is_not_removed_and_a_rewrite_stays_private(
    tmp_path: Path,
):
    path = tmp_path / "data" / "admin.json"
    write_admin_file(path, "http://127.0.0.1:1111", "one")
    path.chmod(0o644)
    write_admin_file(path, "http://127.0.0.1:2222", "two")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["token"] == "two"
    path.write_text("{not json")
    assert read_admin_file(path) is None


# --- voiceconsole control ------------------------------------------------------------------------
async def test_control_say_speaks_the_words_given_after_the_action(admin: Admin, capsys):
    code = await admin.control_cli(CALL, "say", "Please hold")
    assert code == 0
    assert admin.control.done == [("say", CALL, "Please hold", "cli")]
    assert f"say: done for {CALL}" in capsys.readouterr().out


async def test_control_transfer_sends_the_number(admin: Admin):
    assert await admin.control_cli(CALL, "transfer", "+15551234567") == 0
    assert admin.control.done == [("transfer", CALL, "+15551234567", "cli")]


async def test_control_edit_speaks_the_edited_words_instead_of_the_gated_reply(admin: Admin):
    assert await admin.control_cli(CALL, "edit", "Two", "a", "day") == 0
    assert admin.control.done == [("decide_reply", CALL, "edit", "Two a day", "cli")]


async def test_control_list_prints_the_live_calls(admin: Admin, capsys):
    admin.control.calls = [CALL, OTHER]
    assert await admin.control_cli("list") == 0
    out = capsys.readouterr().out
    assert "CALL SID" in out and CALL in out and OTHER in out
    assert await admin.control_cli("list", "--json") == 0
    assert [c["call_sid"] for c in json.loads(capsys.readouterr().out)] == [CALL, OTHER]


async def test_control_on_an_unknown_call_says_no_live_call_and_exits_1(admin: Admin, capsys):
    assert await admin.control_cli(OTHER, "hang-up") == 1
    assert f"no live call {OTHER}" in capsys.readouterr().err


async def test_control_with_an_unknown_action_lists_the_valid_ones_and_exits_2(admin, capsys):
    assert await admin.control_cli(CALL, "explode") == 2
    err = capsys.readouterr().err
    assert "unknown action 'explode'" in err and "take-over" in err


async def test_control_say_without_text_is_a_usage_error_and_sends_nothing(admin: Admin, capsys):
    assert await admin.control_cli(CALL, "say") == 2
    assert "say needs TEXT" in capsys.readouterr().err
    assert admin.control.done == []


async def test_control_with_a_wrong_token_says_the_token_was_refused(admin: Admin, capsys):
    assert await admin.control_cli(CALL, "mute", "--token", "nope") == 1
    assert "refused the token" in capsys.readouterr().err
    assert admin.control.done == []


async def test_control_uses_the_admin_token_setting_with_an_explicit_url(
    admin: Admin, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("VOICECONSOLE_SERVER_ADMIN_TOKEN", TOKEN)
    elsewhere = tmp_path / "none.json"
    code = await admin.control_cli(
        CALL, "unmute", "--url", admin.server.url, "--admin-file", str(elsewhere)
    )
    assert code == 0 and admin.control.done == [("mute_agent", CALL, False, "cli")]


async def test_control_when_nothing_runs_says_voiceconsole_is_not_running(db_dir: Path, capsys):
    code = await asyncio.to_thread(cli.main, ["control", "list"])
    assert code == 1
    err = capsys.readouterr().err
    assert "voiceconsole is not running (no admin endpoint at" in err
    assert str(db_dir / "admin.json") in err


async def test_control_with_a_stale_admin_file_says_voiceconsole_is_not_running(
    db_dir: Path, capsys
):
    server = AdminServer(FakeControl(), TOKEN)
    await server.start()
    url = server.url
    await server.stop()  # crashed, as it were: the file below outlives it
    write_admin_file(db_dir / "admin.json", url, TOKEN)
    code = await asyncio.to_thread(cli.main, ["control", CALL, "hang-up"])
    assert code == 1
    assert f"voiceconsole is not running (no admin endpoint at {url})" in capsys.readouterr().err


# --- with the real LiveCalls ---------------------------------------------------------------------
@pytest.fixture
async def live(db_dir: Path) -> AsyncIterator[tuple[Admin, Any]]:
    harness = make_harness()
    control = LiveCalls(harness.session.deps.bus)
    control.add(harness.session)
    async for made in _serve(control, db_dir):
        yield made, harness


async def test_real_live_calls_take_over_whisper_and_list_through_the_cli(live, capsys):
    admin, harness = live
    sid = harness.session.sid

    assert await admin.control_cli(sid, "take-over") == 0
    assert await admin.control_cli(sid, "whisper", "offer", "a", "callback") == 0
    capsys.readouterr()
    assert await admin.control_cli("list", "--json") == 0

    [listed] = json.loads(capsys.readouterr().out)
    assert listed["call_sid"] == sid
    assert listed["state"] == "operator" and listed["operator_mode"] is True
    guidance = harness.session.conversation.messages[-1].content
    assert guidance == "Operator guidance: offer a callback"
    acted = [(e.action, e.actor, e.detail) for e in harness.events
             if isinstance(e, ev.OperatorActed)]
    assert acted == [("take-over", "cli", ""), ("whisper", "cli", "offer a callback")]


async def test_real_live_calls_refuse_a_transfer_without_twilio_and_the_cli_says_why(
    live, capsys
):
    admin, harness = live
    code = await admin.control_cli(harness.session.sid, "transfer", "default")
    assert code == 1
    assert "the call refused: transfer needs Twilio credentials" in capsys.readouterr().err

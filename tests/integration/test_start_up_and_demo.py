"""What a process leaves behind when it starts: nothing, if its start-up fails half-way; and nothing
of a running console's, if it is a demo started beside it.

In process, with the real runtime on fake Deepgram, Groq, Twilio REST and ngrok agent.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from console import cli
from console.admin.server import read_admin_file, write_admin_file
from console.commands import serve
from console.config import load_settings
from console.events import CallStarted
from console.storage.db import open_db, write_event
from console.storage.lock import DataFolderLock
from console.storage.repository import CallRepository
from tests.fakes.deepgram_fake import FakeDeepgram
from tests.fakes.groq_fake import FakeGroq
from tests.fakes.ngrok_agent import PUBLIC_URL, FakeAgent, running
from tests.fakes.twilio_rest_fake import FakeTwilioRest

pytestmark = pytest.mark.timeout(30)

NUMBER = "+15550000000"
OLD_WEBHOOK = "https://old.example.com/voice"


@pytest.fixture
async def fakes():
    async with FakeDeepgram(ms_per_char=5) as deepgram, FakeGroq() as groq, \
            FakeTwilioRest() as twilio:
        twilio.add_number(NUMBER, voice_url=OLD_WEBHOOK)
        yield deepgram, groq, twilio


def _cloud(deepgram: FakeDeepgram, groq: FakeGroq, twilio: FakeTwilioRest) -> dict[str, str]:
    return {"DEEPGRAM_API_KEY": deepgram.api_key,
            "VOICECONSOLE_DEEPGRAM_BASE_URL": deepgram.base_url,
            "GROQ_API_KEY": groq.api_key, "VOICECONSOLE_GROQ_BASE_URL": groq.base_url,
            "TWILIO_ACCOUNT_SID": twilio.account_sid, "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "VOICECONSOLE_TWILIO_API_BASE_URL": twilio.base_url, "TWILIO_PHONE_NUMBER": NUMBER}


def _number(twilio: FakeTwilioRest) -> dict[str, str]:
    return next(iter(twilio.numbers.values()))


async def test_a_failed_start_up_restores_the_webhook_it_pointed_and_closes_the_tunnel(
    tmp_path, monkeypatch, fakes
):
    deepgram, groq, twilio = fakes
    agent = FakeAgent(tmp_path)
    monkeypatch.setenv("PYNGROK_NGROK_PATH", str(agent.path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    data = tmp_path / "data"
    # The last step of start-up, the admin file for `voiceconsole control`, cannot be written.
    (data / "admin.json").mkdir(parents=True)
    settings = load_settings(_env_file=None, server_port=0, data_db=data / "calls.db",
                             public_ngrok_authtoken="token",
                             **{k.lower().removeprefix("voiceconsole_"): v
                                for k, v in _cloud(deepgram, groq, twilio).items()})

    assert await serve._serve(settings, tunnel=True) == 1  # said so, and did not hang

    pointed = [r.form.get("VoiceUrl") for r in twilio.requests if r.kind == "number-update"]
    assert pointed[0] == f"{PUBLIC_URL}/voice"  # start-up got that far
    assert _number(twilio)["voice_url"] == OLD_WEBHOOK  # and put it back
    assert agent.closed_the_tunnel()
    assert not running(agent.pid())


async def test_a_demo_beside_a_running_console_leaves_its_calls_admin_file_and_number_alone(
    tmp_path, monkeypatch, fakes
):
    deepgram, groq, twilio = fakes
    data = tmp_path / "data"
    # The running console's folder: its lock, a live call in its store, its admin file.
    console_lock = DataFolderLock(data, command="voiceconsole console").acquire()
    live = CallStarted(call_sid="CA" + "1" * 32, stream_sid="MZ" + "1" * 32,
                       from_number="+15550001111", to_number=NUMBER, profile="scheduling",
                       at=time.time())
    store = open_db(data / "calls.db")
    write_event(store, live)
    store.conn.commit()
    store.close()
    write_admin_file(data / "admin.json", "http://127.0.0.1:1", "console-token")
    # The demo's simulated calls are not the subject here (test_demo.py has them): no calls.
    placed: list[str] = []

    async def no_calls(runtime, **options):
        placed.append(str(runtime.settings.data.db))
        return {"calls": []}

    monkeypatch.setattr("console.demo.run_demo", no_calls)
    monkeypatch.chdir(tmp_path)  # no .env
    for name, value in {**_cloud(deepgram, groq, twilio), "PUBLIC_URL": PUBLIC_URL,
                        "VOICECONSOLE_DATA_DB": str(data / "calls.db")}.items():
        monkeypatch.setenv(name, value)
    try:
        assert await asyncio.to_thread(cli.main, ["demo", "--headless"]) == 0
    finally:
        console_lock.release()

    with CallRepository(data / "calls.db") as repo:
        assert repo.get_call(live.call_sid).status == "live"  # not marked interrupted
    admin = read_admin_file(data / "admin.json")
    assert admin is not None and admin.token == "console-token"  # `control` still finds it
    assert [r for r in twilio.requests if r.kind == "number-update"] == []  # number untouched
    assert placed == [str(data / "demo" / "demo.db")]  # the demo ran, in a folder of its own
    assert os.stat(data / "demo").st_mode & 0o777 == 0o700

"""The process around the calls, end to end: the real `voiceconsole` command in its own process,
in a terminal of its own (a pty), with fake Deepgram, Groq, Twilio REST and ngrok agent.

- Closing the terminal (SIGHUP) or `kill` (SIGTERM) runs the ordered shutdown, as ctrl+q does:
  the live call is ended and stored as ended, the number's webhook is put back, the tunnel is
  closed and its agent stopped, the admin file is removed.
- A second instance on the same data folder refuses, naming the process that holds it.
- The ngrok agent dies with us even when we are killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import socket
import struct
import sys
import termios
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.simulate.caller import CallerOptions, SimulatedCaller, Utterance
from console.storage.lock import DataFolderLock
from console.storage.records import CallDetail
from console.storage.repository import CallRepository
from tests.fakes.deepgram_fake import FakeDeepgram, silence
from tests.fakes.groq_fake import FakeGroq
from tests.fakes.ngrok_agent import PUBLIC_URL, FakeAgent, running
from tests.fakes.twilio_rest_fake import FakeTwilioRest

pytestmark = pytest.mark.timeout(60)

NUMBER = "+15550000000"
OLD_WEBHOOK = "https://old.example.com/voice"


@dataclass
class Console:
    proc: asyncio.subprocess.Process
    terminal: int  # the pty's master side: what the terminal emulator holds
    data: Path
    twilio: FakeTwilioRest
    agent: FakeAgent
    screen: bytearray
    port: int

    @property
    def db(self) -> Path:
        return self.data / "calls.db"

    def log(self) -> str:
        path = self.data / "logs" / "console.log"
        return path.read_text() if path.exists() else ""

    def close_terminal(self) -> None:
        """What closing the terminal window does: the kernel hangs up the pty (SIGHUP)."""
        asyncio.get_running_loop().remove_reader(self.terminal)
        os.close(self.terminal)
        self.terminal = -1


async def until(condition: Callable[[], object], what: str, within: float = 15.0) -> None:
    """Poll a condition that lives in another process (a file, a fake's state)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(tmp_path: Path, deepgram: FakeDeepgram, groq: FakeGroq, twilio: FakeTwilioRest,
         agent: FakeAgent, port: int) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("TWILIO_", "PUBLIC_", "NGROK_", "PYNGROK_", "VOICECONSOLE_"))}
    return {**keep, "TERM": "xterm-256color",
            "DEEPGRAM_API_KEY": deepgram.api_key,
            "VOICECONSOLE_DEEPGRAM_BASE_URL": deepgram.base_url,
            "GROQ_API_KEY": groq.api_key, "VOICECONSOLE_GROQ_BASE_URL": groq.base_url,
            "TWILIO_ACCOUNT_SID": twilio.account_sid, "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "VOICECONSOLE_TWILIO_API_BASE_URL": twilio.base_url, "TWILIO_PHONE_NUMBER": NUMBER,
            "NGROK_AUTHTOKEN": "fake-token", "PYNGROK_NGROK_PATH": str(agent.path),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "VOICECONSOLE_DATA_DB": str(tmp_path / "data" / "calls.db"),
            "VOICECONSOLE_SERVER_PORT": str(port),
            "VOICECONSOLE_SERVER_HOST": "127.0.0.1"}


def _take_the_terminal() -> None:
    """In the child, after setsid: make the pty our controlling terminal, as a shell does."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@asynccontextmanager
async def console_in_a_terminal(tmp_path: Path) -> AsyncIterator[Console]:
    """`voiceconsole console` in a pty, started and listening, its webhook and tunnel up."""
    async with FakeDeepgram(ms_per_char=5) as deepgram, FakeGroq() as groq, \
            FakeTwilioRest() as twilio:
        twilio.add_number(NUMBER, voice_url=OLD_WEBHOOK)
        agent = FakeAgent(tmp_path)
        port = _free_port()
        terminal, tty = os.openpty()
        fcntl.ioctl(tty, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console.cli", "console", cwd=tmp_path,
            env=_env(tmp_path, deepgram, groq, twilio, agent, port),
            stdin=tty, stdout=tty, stderr=tty, start_new_session=True,
            preexec_fn=_take_the_terminal)
        os.close(tty)
        screen = bytearray()
        console = Console(proc, terminal, tmp_path / "data", twilio, agent, screen, port)
        asyncio.get_running_loop().add_reader(terminal, _drain, terminal, screen)
        try:
            await until(lambda: (console.data / "admin.json").exists() or proc.returncode,
                        "the console to start")
            yield console
        finally:
            await _end(console)


def _drain(terminal: int, screen: bytearray) -> None:
    """Read what the console paints: a pty whose output nobody reads blocks its writer."""
    try:
        screen.extend(os.read(terminal, 65536))
    except OSError:
        asyncio.get_running_loop().remove_reader(terminal)


async def _end(console: Console) -> None:
    if console.terminal >= 0:
        asyncio.get_running_loop().remove_reader(console.terminal)
        os.close(console.terminal)
    if console.proc.returncode is None:
        console.proc.kill()
        await console.proc.wait()
    pid = console.agent.pid()
    if pid and running(pid):
        os.kill(pid, signal.SIGKILL)


async def _place_a_long_call(console: Console) -> tuple[str, asyncio.Task[Any]]:
    """A caller who keeps quiet on the line (20 s of silence, in real time), until we end it."""
    options = CallerOptions(
        url=f"ws://127.0.0.1:{console.port}/media", auth_token=console.twilio.auth_token,
        account_sid=console.twilio.account_sid,
        signed_url=f"wss://{PUBLIC_URL.removeprefix('https://')}/media",
        utterances=[Utterance(mulaw=silence(20_000), wait_for_reply=False)],
        wait_for_greeting=False)
    console.twilio.add_call(options.call_sid)
    call = asyncio.create_task(SimulatedCaller(options).run(), name="quiet-caller")
    await until(lambda: getattr(_stored(console.db, options.call_sid), "status", None) == "live",
                "the call to be live")
    return options.call_sid, call


def _stored(db: Path, sid: str) -> CallDetail | None:
    with CallRepository(db) as repo:
        return repo.get_call(sid)


def _webhook(console: Console) -> str:
    return next(iter(console.twilio.numbers.values()))["voice_url"]


async def test_closing_the_terminal_runs_the_ordered_shutdown(tmp_path):
    async with console_in_a_terminal(tmp_path) as console:
        assert _webhook(console) == f"{PUBLIC_URL}/voice"
        sid, call = await _place_a_long_call(console)

        console.close_terminal()
        assert await asyncio.wait_for(console.proc.wait(), 20) == 0
        await asyncio.wait_for(call, 5)

        assert _webhook(console) == OLD_WEBHOOK  # the number answers where it did before
        stored = _stored(console.db, sid)
        assert stored is not None
        assert (stored.status, stored.end_reason) == ("ended", "server-shutdown")
        assert console.agent.closed_the_tunnel()
        assert not running(console.agent.pid())
        assert not (console.data / "admin.json").exists()  # `control` is told "not running"
        assert "SIGHUP: shutting down in order" in console.log()


# --- one instance per data folder -------------------------------------------------------------
def _plain_env(tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items()
            if not k.startswith(("TWILIO_", "PUBLIC_", "NGROK_", "VOICECONSOLE_"))}
    return {**keep, "VOICECONSOLE_DATA_DB": str(tmp_path / "data" / "calls.db"),
            "VOICECONSOLE_SERVER_PORT": "0"}


async def test_a_second_instance_on_the_same_data_folder_refuses_and_names_the_holder(tmp_path):
    data = tmp_path / "data"
    with DataFolderLock(data, command="voiceconsole console"):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "console.cli", "serve", cwd=tmp_path, env=_plain_env(tmp_path),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 15)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 1
    message = err.decode()
    assert f"data folder {data} is in use by pid {os.getpid()} (voiceconsole console)" in message
    assert "running since" in message
    assert not (data / "calls.db").exists()  # refused before opening anything: no call swept


# --- the ngrok agent dies with us ----------------------------------------------------------------
TUNNEL_HOLDER = """
import asyncio, sys
from console.telephony.tunnel import open_tunnel

async def main():
    await open_tunnel(8765, "token", ngrok_path=sys.argv[1], config_path=sys.argv[2])
    print("open", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_the_ngrok_agent_does_not_outlive_a_process_killed_with_sigkill(tmp_path):
    agent = FakeAgent(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", TUNNEL_HOLDER, str(agent.path), str(tmp_path / "ngrok.yml"),
        stdout=asyncio.subprocess.PIPE)
    try:
        assert await asyncio.wait_for(proc.stdout.readline(), 15) == b"open\n"
        pid = agent.pid()
        assert pid and running(pid)

        proc.kill()  # no handler, no atexit, no finally: only the kernel sees us go
        await proc.wait()
        await until(lambda: not running(pid), "the orphaned agent to end", within=5)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if (pid := agent.pid()) and running(pid):
            os.kill(pid, signal.SIGKILL)

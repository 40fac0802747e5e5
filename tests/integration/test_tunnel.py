"""The optional ngrok tunnel, driven through the real pyngrok code.

No network here, so the "ngrok" binary is either missing (pyngrok tries to download it and fails)
or a small stand-in script: one that fails like the real agent without an auth token, one that
hangs, and one that speaks the agent's start-up log lines and its local /api/endpoints API.
"""

from __future__ import annotations

import stat
import sys
import time
from pathlib import Path

import pytest

from console.telephony.tunnel import Tunnel, TunnelError, open_tunnel, tunnel_wanted

pytestmark = pytest.mark.timeout(30)

PUBLIC_URL = "https://fake-tunnel.ngrok-free.app"

# The agent lingers 0.3 s after its error line before it exits. pyngrok stops reading the agent's
# output as soon as the process has exited, even with lines still in the pipe; an agent that
# exits at once would make this test about that race (on a loaded machine pyngrok then reports
# only "unable to start"), not about the reason we pass on.
FAILING_AGENT = """
import time
print('t=2024-01-01T00:00:00+0000 lvl=info msg="no configuration paths supplied"', flush=True)
print('t=2024-01-01T00:00:00+0000 lvl=eror msg="session closing" '
      'err="authentication failed: Usage of ngrok requires a verified account and authtoken. '
      'ERR_NGROK_4018"', flush=True)
time.sleep(0.3)
raise SystemExit(1)
"""

HANGING_AGENT = """
import time
time.sleep(60)
"""

# Prints the three lines pyngrok waits for, then serves the agent API it calls.
WORKING_AGENT = """
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

PUBLIC_URL = %r

class Api(BaseHTTPRequestHandler):
    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send(200, {"endpoints": []})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        options = json.loads(self.rfile.read(length) or b"{}")
        with open(%r, "a") as seen:
            seen.write(json.dumps(options) + "\\n")
        self._send(201, {"id": "ep_1", "name": options.get("name"), "public_url": PUBLIC_URL,
                         "uri": "/api/endpoints/ep_1", "upstream": options.get("upstream")})

    def do_DELETE(self):
        with open(%r, "a") as seen:
            seen.write("DELETE " + self.path + "\\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Api)
addr = "127.0.0.1:%%d" %% server.server_address[1]
for line in ('lvl=info msg="starting web service" obj=web addr=' + addr,
             'lvl=info msg="tunnel session started" obj=tunnels.session',
             'lvl=info msg="client session established" obj=csess'):
    print("t=2024-01-01T00:00:00+0000 " + line, flush=True)
server.serve_forever()
"""


def _agent(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "bin" / "ngrok"
    path.parent.mkdir()
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _paths(tmp_path: Path, agent: Path) -> dict[str, str]:
    return {"ngrok_path": str(agent), "config_path": str(tmp_path / "ngrok.yml")}


async def test_offline_the_missing_binary_cannot_be_downloaded_and_the_error_says_so(
    tmp_path, monkeypatch
):
    # A dead proxy makes the download fail at once even on a machine that is online.
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(TunnelError) as caught:
        await open_tunnel(8765, "token", **_paths(tmp_path, tmp_path / "nothing" / "ngrok"))
    message = str(caught.value)
    assert message.startswith("could not start an ngrok tunnel: ngrok is not installed")
    assert "downloading it failed" in message
    assert "\n" not in message
    assert time.monotonic() - started < 5


async def test_an_agent_that_refuses_to_start_gives_its_own_reason(tmp_path):
    agent = _agent(tmp_path, FAILING_AGENT)
    with pytest.raises(TunnelError) as caught:
        await open_tunnel(8765, None, **_paths(tmp_path, agent))
    message = str(caught.value)
    assert "the ngrok agent failed to start" in message
    assert "ERR_NGROK_4018" in message


async def test_an_agent_that_hangs_is_given_up_on_within_the_bound_and_killed(tmp_path):
    agent = _agent(tmp_path, HANGING_AGENT)
    started = time.monotonic()
    with pytest.raises(TunnelError, match=r"no answer within 0\.5 s"):
        await open_tunnel(8765, "token", timeout_s=0.5, **_paths(tmp_path, agent))
    assert time.monotonic() - started < 3


async def test_a_working_agent_gives_an_https_public_url_for_our_port_and_close_removes_it(
    tmp_path,
):
    seen = tmp_path / "seen.log"
    agent = _agent(tmp_path, WORKING_AGENT % (PUBLIC_URL, str(seen), str(seen)))
    tunnel = await open_tunnel(8765, "token", **_paths(tmp_path, agent))
    try:
        assert isinstance(tunnel, Tunnel)
        assert tunnel.public_url == PUBLIC_URL
        assert '"url": "http://127.0.0.1:8765"' in seen.read_text()
    finally:
        await tunnel.close()
    assert "DELETE /api/endpoints/ep_1" in seen.read_text()
    await tunnel.close()  # a second close is harmless


def test_the_tunnel_is_only_wanted_with_the_flag_or_an_auth_token():
    assert not tunnel_wanted(False, None)
    assert not tunnel_wanted(False, "")
    assert tunnel_wanted(True, None)
    assert tunnel_wanted(False, "2abc_token")

"""A stand-in for the ngrok agent binary, driven by the real pyngrok code with no network.

It prints the three start-up lines pyngrok waits for, then serves the agent API pyngrok calls
(create and delete an endpoint) on 127.0.0.1. Everything it is asked, and its own pid, is
appended to a log file, so a test can tell when the tunnel was opened and closed, and whether the
agent process is still alive.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

PUBLIC_URL = "https://fake-tunnel.ngrok-free.app"

_AGENT = """
import json, os
from http.server import BaseHTTPRequestHandler, HTTPServer

PUBLIC_URL, SEEN = %r, %r

def note(line):
    with open(SEEN, "a") as seen:
        seen.write(line + "\\n")

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
        options = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        note("OPEN " + json.dumps(options))
        self._send(201, {"id": "ep_1", "name": options.get("name"), "public_url": PUBLIC_URL,
                         "uri": "/api/endpoints/ep_1", "upstream": options.get("upstream")})

    def do_DELETE(self):
        note("DELETE " + self.path)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

note("PID %%d" %% os.getpid())
server = HTTPServer(("127.0.0.1", 0), Api)
addr = "127.0.0.1:%%d" %% server.server_address[1]
for line in ('lvl=info msg="starting web service" obj=web addr=' + addr,
             'lvl=info msg="tunnel session started" obj=tunnels.session',
             'lvl=info msg="client session established" obj=csess'):
    print("t=2024-01-01T00:00:00+0000 " + line, flush=True)
server.serve_forever()
"""


class FakeAgent:
    """`path` is the executable to give pyngrok (PYNGROK_NGROK_PATH or `ngrok_path`)."""

    def __init__(self, folder: Path, public_url: str = PUBLIC_URL) -> None:
        self.seen = folder / "agent-seen.log"
        self.path = folder / "bin" / "ngrok"
        self.path.parent.mkdir(parents=True)
        self.path.write_text(f"#!{sys.executable}\n" + _AGENT % (public_url, str(self.seen)))
        self.path.chmod(self.path.stat().st_mode | stat.S_IXUSR)

    def lines(self) -> list[str]:
        return self.seen.read_text().splitlines() if self.seen.exists() else []

    def pid(self) -> int | None:
        pids = [int(line.split()[1]) for line in self.lines() if line.startswith("PID ")]
        return pids[-1] if pids else None

    def closed_the_tunnel(self) -> bool:
        return any(line.startswith("DELETE ") for line in self.lines())


def running(pid: int) -> bool:
    """True while `pid` runs (a zombie, dead and waiting for its parent to reap it, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


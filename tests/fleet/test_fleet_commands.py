"""`voiceconsole fleet status` and `doctor` against a real Redis: what a person sees, and a
plain message with exit 1 when Redis cannot be reached."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from console.cli import main
from console.commands.doctor import diagnose
from console.config import load_settings
from console.fleet.connection import connect
from console.fleet.registry import WorkerBeat, beat


def register(url: str, *workers: WorkerBeat) -> None:
    """Workers as their heartbeats left them (a long TTL: the test reads them at leisure)."""
    async def beat_all() -> None:
        client = connect(SecretStr(url))
        try:
            for worker in workers:
                await beat(client, worker, ttl_s=60)
        finally:
            await client.aclose()

    asyncio.run(beat_all())


def worker(name: str, load: int, capacity: int, draining: bool, age_s: float) -> WorkerBeat:
    return WorkerBeat(name, f"https://{name}.example.test", load, capacity, draining, 4242,
                      time.time() - age_s)


@pytest.fixture
def fleet_env(redis_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's
    monkeypatch.setenv("VOICECONSOLE_FLEET_URL", redis_server.url)
    return str(redis_server.url)


def test_fleet_status_lists_each_worker_with_its_calls_capacity_draining_and_beat_age(
        fleet_env: str, redis_server, capsys: pytest.CaptureFixture[str]) -> None:
    register(fleet_env, worker("west-1", 12, 100, False, 0.4),
             worker("east-2", 3, 50, True, 1.6))
    assert main(["fleet", "status"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"fleet at 127.0.0.1:{redis_server.port}/0 (redis ")
    assert out[0].endswith("2 worker(s), 15 call(s), 88 line(s) free")  # a draining one's: none
    assert out[1].split() == ["worker", "calls", "capacity", "draining", "beat", "age", "url"]
    rows = {line.split()[0]: line.split() for line in out[2:]}
    assert rows["west-1"][1:4] == ["12", "100", "no"] and 0.4 <= float(rows["west-1"][4]) < 1.4
    assert rows["east-2"][1:4] == ["3", "50", "yes"] and 1.6 <= float(rows["east-2"][4]) < 2.6
    assert rows["east-2"][-1] == "https://east-2.example.test"
    assert list(rows) == ["east-2", "west-1"]  # by name


def test_fleet_status_exits_1_and_says_where_when_redis_is_unreachable(
        fleet_env: str, redis_server, capsys: pytest.CaptureFixture[str]) -> None:
    redis_server.stop()
    assert main(["fleet", "status"]) == 1
    err = capsys.readouterr().err
    assert f"cannot reach the fleet's Redis at 127.0.0.1:{redis_server.port}/0" in err
    assert "Traceback" not in err


def test_fleet_status_without_a_fleet_says_how_to_make_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VOICECONSOLE_FLEET_URL", raising=False)
    assert main(["fleet", "status"]) == 2
    assert "VOICECONSOLE_FLEET_URL" in capsys.readouterr().err


def test_doctor_checks_the_fleets_redis_only_when_there_is_a_fleet(redis_server) -> None:
    assert "fleet" not in diagnose(load_settings(_env_file=None))
    settings = load_settings(_env_file=None, fleet_url=redis_server.url, fleet_name="w1")
    register(redis_server.url, worker("w1", 0, 100, False, 0.1))
    report = diagnose(settings)["fleet"]
    assert report["redis"].startswith("ready: redis") and "1 worker(s) beating" in report["redis"]
    assert report["worker"] == "w1, 75 calls"  # the default capacity
    redis_server.stop()
    assert diagnose(settings)["fleet"]["redis"].startswith("UNREACHABLE: cannot reach")

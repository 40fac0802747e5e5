"""Secrets and exposure: an empty secret is no secret, and a public server checks signatures."""

from __future__ import annotations

import pytest

from console.commands.doctor import diagnose
from console.config import load_settings
from console.runtime import Runtime, UnsafeExposure
from console.telephony.guard import InboundBudget, StreamTickets, valid_sid


def settings(**values: object):
    return load_settings(_env_file=None, **values)


@pytest.mark.parametrize("empty", ["", "   "])
def test_an_empty_auth_token_is_treated_as_unset(empty: str) -> None:
    """`cp .env.example .env` leaves `TWILIO_AUTH_TOKEN=`: signatures "checked" against the
    empty key are signatures anyone can compute."""
    configured = settings(twilio_auth_token=empty, groq_api_key=empty, public_ngrok_authtoken=empty)
    assert configured.twilio.auth_token is None and not configured.validates_signatures
    assert configured.groq.api_key is None and configured.public.ngrok_authtoken is None


def test_an_empty_token_read_from_the_environment_is_unset_too(monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "")
    monkeypatch.setenv("PUBLIC_URL", "")
    configured = settings()
    assert configured.twilio.auth_token is None and configured.public.url is None


# (settings, tunnel wanted, is start-up refused)
EXPOSURE = [
    ({}, False, False),  # loopback, no token: the embedded default
    ({}, True, True),  # --tunnel without a token
    ({"public_ngrok_authtoken": "ng"}, False, True),
    ({"public_url": "https://x.example"}, False, True),
    ({"server_host": "0.0.0.0"}, False, True),
    ({"twilio_auth_token": ""}, True, True),  # the empty token is no token
    ({"twilio_auth_token": "t"}, True, False),
    ({"twilio_auth_token": "t", "twilio_signature_validation": False, "server_host": "0.0.0.0"},
     False, True),
    ({"public_allow_unsigned": True, "public_url": "https://x.example"}, False, False),
]


@pytest.mark.parametrize(("values", "tunnel", "refused"), EXPOSURE)
def test_a_public_server_without_signatures_refuses_to_start(values, tunnel, refused) -> None:
    refusal = settings(**values).refusal_to_serve(tunnel)
    assert (refusal is not None) == refused
    if refused:
        assert "without Twilio signatures" in refusal


async def test_the_runtime_refuses_before_anything_binds(tmp_path) -> None:
    runtime = Runtime(settings(data_db=tmp_path / "calls.db", server_port=0,
                               public_url="https://x.example"))
    with pytest.raises(UnsafeExposure, match="without Twilio signatures"):
        await runtime.start(lambda step, status: None)
    assert runtime.server.port == 0 and not (tmp_path / "calls.db").exists()


def test_doctor_says_whether_signatures_are_enforced_and_why_not() -> None:
    assert diagnose(settings(twilio_auth_token="t"))["twilio"]["signatures"].startswith(
        "enforced")
    local = diagnose(settings())["twilio"]["signatures"]
    assert local.startswith("NOT enforced (no TWILIO_AUTH_TOKEN)") and "only from here" in local
    public = diagnose(settings(public_url="https://x.example",
                               twilio_auth_token=""))["twilio"]["signatures"]
    assert "start-up will be refused" in public
    allowed = diagnose(settings(public_url="https://x.example", public_allow_unsigned=True))
    assert "PUBLIC server" in allowed["twilio"]["signatures"]


def test_a_ticket_expires_and_is_good_once() -> None:
    now = [0.0]
    tickets = StreamTickets(ttl_s=60, clock=lambda: now[0])
    first, second = tickets.issue("CA1"), tickets.issue("CA2")
    assert tickets.redeem("CA1", first) and not tickets.redeem("CA1", first)
    now[0] = 61.0
    assert not tickets.redeem("CA2", second)


def test_the_inbound_budget_allows_real_time_forever_and_a_burst_once() -> None:
    now = [0.0]
    budget = InboundBudget(rate=1.5, burst_s=1.0, clock=lambda: now[0])
    for frame in range(50 * 60):  # a minute at exactly real time
        now[0] = frame * 0.02
        assert budget.spend()
    assert all(budget.spend() for _ in range(49))  # a backlog of about a second, at once
    assert not all(budget.spend() for _ in range(60))


def test_sids_must_have_twilios_shape() -> None:
    assert valid_sid("call", "CA" + "0123456789abcdef" * 2)
    assert not valid_sid("call", "CA" + "0" * 31)
    assert not valid_sid("call", "MZ" + "0" * 32)
    assert not valid_sid("stream", "MZ" + "0" * 32 + "\n")

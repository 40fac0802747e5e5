"""The end-of-call webhook's pure parts (signature, retry policy, body) and its outbox rows."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from console.cli import main
from console.config import load_settings
from console.events import CallEnded, CallStarted, CallSummarized, TurnCompleted
from console.handoff import policy, signature
from console.handoff.payload import build_body
from console.storage.db import open_db, write_event
from console.storage.outbox import Outbox, enqueue
from console.storage.repository import CallRepository
from console.storage.writer import StoreWriter

SECRET = "whsec-unit"
BODY = b'{"call":{"call_sid":"CA1"}}'
NOW = 1_800_000_000


# ------------------------------------------------------------------ signature


def test_a_receiver_accepts_the_signature_of_the_body_it_got():
    header = signature.sign(SECRET, NOW, BODY)
    assert header.startswith(f"t={NOW},v1=") and signature.verify(SECRET, header, BODY, NOW + 5)


@pytest.mark.parametrize("secret, body, now", [
    ("another-secret", BODY, NOW),  # signed by someone else
    (SECRET, BODY.replace(b"CA1", b"CA2"), NOW),  # body changed on the way
    (SECRET, BODY, NOW + 301),  # replayed after the 5 minute tolerance
])
def test_a_receiver_refuses_a_forged_changed_or_replayed_delivery(secret, body, now):
    assert not signature.verify(secret, signature.sign(SECRET, NOW, BODY), body, now)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=soon,v1=abc", "garbage"])
def test_a_malformed_signature_header_is_refused_not_an_error(header):
    assert not signature.verify(SECRET, header, BODY, NOW)


# ------------------------------------------------------------------ policy


@pytest.mark.parametrize("status, verdict", [
    (200, "delivered"), (204, "delivered"), (None, "retry"), (500, "retry"), (503, "retry"),
    (408, "retry"), (425, "retry"), (429, "retry"), (400, "dead"), (401, "dead"),
    (404, "dead"), (410, "dead"), (301, "dead"),
])
def test_what_each_answer_means(status, verdict):
    assert policy.verdict(status) == verdict


def test_waits_double_from_the_base_with_jitter_up_to_the_cap():
    backoff, rng = policy.Backoff(base_s=5, cap_s=60), random.Random(7)
    waits = [[backoff.delay(attempt, rng) for _ in range(200)] for attempt in range(1, 7)]
    ceilings = (5, 10, 20, 40, 60, 60)
    for ceiling, sample in zip(ceilings, waits, strict=True):
        assert ceiling / 2 <= min(sample) and max(sample) <= ceiling
        assert max(sample) - min(sample) > ceiling / 4, "jitter spreads a crowd of retries"


def test_the_last_attempt_dead_letters_and_a_retry_after_is_honoured_up_to_the_cap():
    backoff = policy.Backoff(base_s=1, cap_s=30)
    assert policy.next_attempt_at(NOW, 8, 8, backoff) is None
    assert policy.next_attempt_at(NOW, 1, 8, backoff, retry_after_s=20) == NOW + 20
    assert policy.next_attempt_at(NOW, 1, 8, backoff, retry_after_s=3600) == NOW + 30
    assert policy.retry_after("12") == 12 and policy.retry_after("Wed, 21 Oct") is None


# ------------------------------------------------------------------ settings


def test_a_webhook_url_without_a_secret_is_refused_at_start_up(tmp_path):
    for secret in (None, "", "   "):
        with pytest.raises(ValidationError, match="VOICECONSOLE_WEBHOOK_SECRET"):
            load_settings(_env_file=None, webhook_url="https://crm.example/hook",
                          webhook_secret=secret)
    with pytest.raises(ValidationError, match="http"):
        load_settings(_env_file=None, webhook_url="ftp://crm.example",
                      webhook_secret=SECRET)
    assert load_settings(_env_file=None, webhook_url="").webhook.url is None


# ------------------------------------------------------------------ outbox rows


def _call(sid: str, at: float = NOW) -> list:
    return [CallStarted(sid, "MZ1", "+15550001111", "+15550000000", "scheduling", at=at),
            TurnCompleted(sid, "caller", "my card is [redacted]", at + 1, at + 2, at=at + 2),
            CallEnded(sid, "caller-hung-up", at=at + 3),
            CallSummarized(sid, "Asked to pay.", "resolved", ("call back",), (("name", "Ann"),),
                           at=at + 4)]


async def test_a_summarized_call_and_its_delivery_are_written_together_once(tmp_path):
    db = tmp_path / "calls.db"
    writer = StoreWriter(db, also_write=enqueue)
    writer.start()
    for event in [*_call("CA1"), CallSummarized("CA1", "Edited.", "resolved", at=NOW + 9)]:
        writer(event)
    await writer.flush()
    with Outbox(db) as outbox:
        rows = outbox.list_deliveries()
    await writer.close()
    assert [(r.call_sid, r.status, r.attempts, r.idempotency_key) for r in rows] == [
        ("CA1", "pending", 0, "CA1:call.completed")]
    assert rows[0].next_attempt_at == NOW + 4


async def test_without_a_webhook_nothing_is_queued(tmp_path):
    writer = StoreWriter(tmp_path / "calls.db")
    writer.start()
    for event in _call("CA1"):
        writer(event)
    await writer.close()
    with Outbox(tmp_path / "calls.db") as outbox:
        assert outbox.list_deliveries() == []


def _stored(db_path: Path, *sids: str) -> Outbox:
    db = open_db(db_path)
    with db.conn:
        for sid in sids:
            for event in _call(sid):
                write_event(db, event)
                enqueue(db, event)
    db.close()
    return Outbox(db_path)


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_runs_out(tmp_path):
    """What a kill -9 mid-attempt leaves: the row comes due again once the lease has passed."""
    with _stored(tmp_path / "calls.db", "CA1") as outbox:
        first = outbox.claim_due(NOW + 10, lease_s=15, limit=8)
        assert [(r.call_sid, r.attempts) for r in first] == [("CA1", 1)]
        assert outbox.claim_due(NOW + 24, lease_s=15, limit=8) == []
        assert [r.attempts for r in outbox.claim_due(NOW + 25, lease_s=15, limit=8)] == [2]


def test_the_body_is_the_stored_call_and_is_frozen_at_its_first_build(tmp_path):
    outbox = _stored(tmp_path / "calls.db", "CA1")
    with CallRepository(tmp_path / "calls.db") as repo:
        body = build_body(repo.get_call("CA1"), "CA1:call.completed", "call.completed", NOW + 5)
    document = json.loads(body)
    assert document["turns"][0]["text"] == "my card is [redacted]"  # as stored, never live
    assert (document["summary"], document["fields"], document["action_items"]) == (
        "Asked to pay.", {"name": "Ann"}, ["call back"])
    assert document["call"]["duration"] == 3 and document["recording"] is None
    with outbox:
        row_id = outbox.list_deliveries()[0].id
        assert outbox.freeze_body(row_id, body) == body
        assert outbox.freeze_body(row_id, '{"other": 1}') == body, "a retry sends the same bytes"


# ------------------------------------------------------------------ CLI


def test_the_cli_lists_a_dead_letter_with_its_error_and_retries_it(tmp_path, monkeypatch, capsys):
    db = tmp_path / "calls.db"
    with _stored(db, "CA1", "CA2") as outbox:
        dead, delivered = sorted(r.id for r in outbox.claim_due(NOW + 5, 10, 8))
        outbox.failed(dead, "HTTP 400: unknown field", 400, None, NOW + 6)
        outbox.delivered(delivered, 200, NOW + 6)
    monkeypatch.setenv("VOICECONSOLE_DATA_DB", str(db))
    monkeypatch.chdir(tmp_path)  # no .env from the project
    assert main(["webhooks"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == 2 and listing[1].split()[:3] == [str(dead), "dead", "CA1"]
    assert listing[1].endswith("HTTP 400: unknown field")
    assert main(["webhooks", "retry", str(dead)]) == 0
    assert main(["webhooks", "retry", str(delivered)]) == 1
    capsys.readouterr()
    assert main(["webhooks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["status"], r["attempts"]) for r in rows] == [(dead, "pending", 0)]

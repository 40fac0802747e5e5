"""A stream's one-time ticket in a fleet: issued by the worker that answered /voice, good once on
the worker it chose and nowhere else."""

from __future__ import annotations

from console.telephony.guard import FleetTickets

TOKEN = "auth-token-of-the-account"
CALL = "CA" + "1" * 32
OTHER_CALL = "CA" + "2" * 32


def test_a_ticket_from_one_worker_is_good_once_on_the_worker_it_chose() -> None:
    ticket = FleetTickets(TOKEN, "a").issue(CALL, "b")
    chosen = FleetTickets(TOKEN, "b")
    assert chosen.redeem(CALL, ticket)
    assert not chosen.redeem(CALL, ticket)  # once


def test_a_ticket_is_good_nowhere_else_and_for_no_other_call() -> None:
    ticket = FleetTickets(TOKEN, "a").issue(CALL, "b")
    assert not FleetTickets(TOKEN, "a").redeem(CALL, ticket)  # not on the worker that issued it
    assert not FleetTickets(TOKEN, "c").redeem(CALL, ticket)
    assert not FleetTickets(TOKEN, "b").redeem(OTHER_CALL, ticket)
    assert not FleetTickets("another-account", "b").redeem(CALL, ticket)


def test_a_ticket_lapses_after_a_minute_by_the_wall_clock() -> None:
    now = [1_000_000.0]
    issuer = FleetTickets(TOKEN, "a", ttl_s=60, clock=lambda: now[0])
    chosen = FleetTickets(TOKEN, "b", ttl_s=60, clock=lambda: now[0])
    early, late = issuer.issue(CALL, "b"), issuer.issue(OTHER_CALL, "b")
    now[0] += 30
    assert chosen.redeem(CALL, early)
    now[0] += 31
    assert not chosen.redeem(OTHER_CALL, late)


def test_a_forged_or_altered_ticket_is_refused_without_error() -> None:
    ticket = FleetTickets(TOKEN, "a").issue(CALL, "b")
    lapses, nonce, seal = ticket.split(".")
    chosen = FleetTickets(TOKEN, "b")
    later = str(int(lapses) + 3600)
    for forged in (f"{later}.{nonce}.{seal}", f"{lapses}.{nonce}x.{seal}", f"{lapses}.{nonce}.",
                   "", "...", "not a ticket", "1.2.é", seal):
        assert not chosen.redeem(CALL, forged), forged
    assert chosen.redeem(CALL, ticket)  # the real one is still good

"""The worker's decision on a send result, as a table: inputs on the left, what it must do on the right."""

import pytest

from notifier.channels.base import SendResult
from notifier.delivery.results import Decision, Delivered, Park, RetryLater, RetryPolicy, next_step
from notifier.message import MessageRef

POLICY = RetryPolicy(initial=2.0, maximum=10.0, max_age=3600.0)
NOW = 1_000_000.0
REF = MessageRef("C0123", "1700000001.000001")


@pytest.mark.parametrize(
    ("result", "created", "failures", "paused_for", "jitter", "expected"),
    [
        # sent: the failure count starts again (what the platform made is the thread's, not the outbox's)
        (SendResult.sent("HTTP 200: ok"), NOW, 3, 0, 1, Delivered("HTTP 200: ok")),
        (SendResult.sent("x" * 300, REF), NOW, 0, 0, 1, Delivered("x" * 200)),
        # permanent: parked at once, the channel neither pauses nor counts a failure
        (SendResult.dead("no_service", "HTTP 404"), NOW, 2, 0, 1, Park("no_service", "HTTP 404", 2)),
        # Retry-After: waited exactly, the backoff does not escalate
        (
            SendResult.retry("rate_limited", "HTTP 429", retry_after=30),
            NOW,
            1,
            0,
            1,
            RetryLater(NOW + 30, "rate_limited", "HTTP 429", 1, 30),
        ),
        # backoff: 2 s doubling, with jitter, capped at 10 s
        (
            SendResult.retry("server_error", "HTTP 500"),
            NOW,
            0,
            0,
            1,
            RetryLater(NOW + 2, "server_error", "HTTP 500", 1, 2),
        ),
        (
            SendResult.retry("server_error", "HTTP 500"),
            NOW,
            1,
            0,
            0.5,
            RetryLater(NOW + 2, "server_error", "HTTP 500", 2, 2),
        ),
        (
            SendResult.retry("server_error", "HTTP 500"),
            NOW,
            2,
            0,
            1,
            RetryLater(NOW + 8, "server_error", "HTTP 500", 3, 8),
        ),
        (SendResult.retry("timeout", ""), NOW, 9, 0, 1, RetryLater(NOW + 10, "timeout", "", 10, 10)),
        # the channel is already paused by a send that failed with this one: the same outage, no escalation
        (
            SendResult.retry("server_error", "HTTP 503"),
            NOW,
            4,
            3.5,
            1,
            RetryLater(NOW + 3.5, "server_error", "HTTP 503", 4, 3.5),
        ),
        # past the maximum age: parked, yet the channel still waits out the failure
        (
            SendResult.retry("server_error", "HTTP 500"),
            NOW - 3599,
            0,
            0,
            1,
            Park("expired", "still failing after the maximum age: server_error HTTP 500", 1, pause=2),
        ),
        (
            SendResult.retry("rate_limited", "HTTP 429", retry_after=2),
            NOW - 3598,
            0,
            0,
            1,
            RetryLater(NOW + 2, "rate_limited", "HTTP 429", 0, 2),
        ),
    ],
    ids=[
        "sent",
        "sent-ref",
        "permanent",
        "retry-after",
        "backoff-1",
        "backoff-2-jitter",
        "backoff-3",
        "backoff-cap",
        "same-outage",
        "expired",
        "just-in-time",
    ],
)
def test_decision(
    result: SendResult, created: float, failures: int, paused_for: float, jitter: float, expected: Decision
) -> None:
    decision = next_step(
        result, now=NOW, created=created, failures=failures, paused_for=paused_for, policy=POLICY, jitter=jitter
    )
    assert decision == expected


@pytest.mark.parametrize(
    ("decision", "note"),
    [
        (RetryLater(NOW, "server_error", "HTTP 500: down", 1, 2), "server_error: HTTP 500: down"),
        (Park("no_service", "HTTP 404", 0), "no_service: HTTP 404"),
        (Park("write_error", "", 0), "write_error"),
        (Park("invalid_blocks", "x" * 600, 0), ("invalid_blocks: " + "x" * 600)[:500]),
    ],
)
def test_what_the_notification_keeps_as_its_reason(decision: RetryLater | Park, note: str) -> None:
    assert decision.note == note

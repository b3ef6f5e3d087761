"""What a worker does with a send's result: sent, retry at a time, or dead, and how long the channel pauses.

A pure function of the result, the notification's age and the channel's state, so that every rule
(Retry-After, backoff that escalates once per outage, the maximum age, permanent failures) has a table test.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.channels.base import Outcome, SendResult

# How much of a platform's answer is kept with a notification.
MAX_SENT_DETAIL = 200
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    initial: float
    maximum: float
    max_age: float

    def backoff(self, failures: int, jitter: float) -> float:
        """Exponential, capped; `jitter` (0.5 to 1) keeps many senders from retrying in step."""
        return float(min(self.maximum, self.initial * 2 ** max(0, failures - 1)) * jitter)


@dataclass(frozen=True, slots=True)
class Delivered:
    detail: str
    # The channel works: its failure count starts again.
    failures: int = 0
    pause: float = 0.0


@dataclass(frozen=True, slots=True)
class RetryLater:
    at: float
    reason: str
    detail: str
    # The channel's consecutive failures from now on, and how long the whole channel waits (not just this one).
    failures: int
    pause: float

    @property
    def note(self) -> str:
        """What the notification keeps as the reason of its last attempt."""
        return f"{self.reason}: {self.detail}"[:MAX_REASON]


@dataclass(frozen=True, slots=True)
class Park:
    """Give up: the notification becomes a dead letter. `reason` is the metric label."""

    reason: str
    detail: str
    failures: int
    pause: float = 0.0

    @property
    def note(self) -> str:
        return f"{self.reason}: {self.detail}"[:MAX_REASON] if self.detail else self.reason


Decision = Delivered | RetryLater | Park


def next_step(
    result: SendResult,
    *,
    now: float,
    created: float,
    failures: int,
    paused_for: float,
    policy: RetryPolicy,
    jitter: float,
) -> Decision:
    """`failures` counts the channel's failures since its last success; `paused_for` is its pause still to run."""
    if result.outcome is Outcome.SENT:
        return Delivered(result.detail[:MAX_SENT_DETAIL])
    if result.outcome is Outcome.DEAD:
        return Park(result.reason, result.detail, failures)
    if result.retry_after is not None:
        delay = result.retry_after
    elif paused_for > 0:
        # Another send already failed and paused the channel: sends that were in flight with it are the same
        # failure, not a longer outage, so they do not escalate the backoff.
        delay = paused_for
    else:
        failures += 1
        delay = policy.backoff(failures, jitter)
    if now + delay - created > policy.max_age:
        detail = f"still failing after the maximum age: {result.reason} {result.detail}"
        return Park("expired", detail, failures, pause=delay)
    return RetryLater(now + delay, result.reason, result.detail, failures, pause=delay)

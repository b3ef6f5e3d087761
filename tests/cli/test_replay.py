"""`keptn-notifier replay` of one run's events: the run message as it changes, its thread's replies beneath it."""

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import RUNS

RUN = RUNS / "evaluation-failed"
CONTEXT = "a8e4d2c6-1f3b-4e5a-8c7d-9b0e2f4a6c18"


def replay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_", "PUBSUB_", "NOTIFIER_"))}
    return subprocess.run(
        [sys.executable, "-m", "notifier", "replay", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        check=False,
    )


def test_replay_of_a_shipped_run_shows_the_run_message_as_it_changes_and_the_replies_beneath_it() -> None:
    run = replay(str(RUN))
    assert run.returncode == 0, run
    kinds = [line for line in run.stdout.splitlines() if line.startswith(("┏━", "↳"))]
    blocks = re.split(r"\n\n(?=┏━|↳)", run.stdout.strip())
    # the default subscription takes 5 of the 36 events: the first posts the run message and is its first
    # reply; the others are replies, and the run message is edited after them (an edit waits for the replies
    # queued, so one at the end; more only if the replay's events came slower than the replies went)
    new, reply, edited = (
        f"{kind} run {CONTEXT[:8]}" for kind in ("┏━ run message ·", "↳ in the thread of", "┏━ run message, edited ·")
    )
    assert kinds[:2] == [new, reply] and kinds.count(reply) == 5 and kinds[-1] == edited, run.stdout
    assert set(kinds[2:]) == {reply, edited} and (edited, edited) not in itertools.pairwise(kinds), run.stdout
    final = blocks[-1]
    assert "❌ sockshop/carts: staging delivery failed" in final
    assert "Evaluation score: dev 100, staging 33.33" in final
    replies = [block for block in blocks if block.startswith("↳")]
    # the first notification's own details are in the thread: the first evaluation and its SLIs
    assert "Evaluation passed: sockshop/dev/carts" in replies[0] and "All 3 SLIs passed" in replies[0]
    assert "Evaluation failed: sockshop/staging/carts" in replies[2] and "Response time P95" in replies[2]
    assert "5 accepted, 31 ignored" in run.stderr and "0 dead, 0 still pending" in run.stderr


def test_a_console_that_says_threads_false_prints_every_message_on_its_own(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("channels:\n  log: {type: console, threads: false}\nroutes: [{name: all, channels: [log]}]\n")
    run = replay(str(RUN), "--config", str(config), env={"PUBSUB_TOPIC": "sh.keptn.>"})
    assert run.returncode == 0, run
    assert "run message" not in run.stdout and "↳" not in run.stdout
    assert len(re.findall(r"^\[(SUCCESS|INFO|WARNING|FAILURE)\] ", run.stdout, re.MULTILINE)) == 36

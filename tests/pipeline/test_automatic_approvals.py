"""Issue 9.2: an approval.triggered whose strategy is automatic needs no human, so it is not posted by default.

A route asks for it with `automatic_approvals: true` in its `match`. Checked on the router, through
`keptn-notifier routes` and through `replay` (the whole pipeline, environment mode).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from notifier.config.load import load_config
from notifier.config.source import ConfigError
from notifier.keptn.events import event_from_mapping
from notifier.keptn.payload import approval_strategy, is_automatic_approval
from notifier.pipeline.explain import Router
from tests.helpers import Printed, printed, run_cli

APPROVAL = "sh.keptn.event.approval.triggered"
CONFIG = """
channels:
  chat: {type: console}
  audit: {type: console}
routes:
  - name: approvals
    match: {types: ["sh.keptn.event.approval.*"]}
    channels: [chat]
  - name: audit
    match: {types: ["sh.keptn.>"], automatic_approvals: true}
    channels: [audit]
"""


def approval(result: str, strategies: Any, event_id: str = "a-1", type_: str = APPROVAL) -> dict[str, Any]:
    """Keptn's approval.triggered example (spec 0.2.x), with the result and strategies given."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "shipyard-controller",
        "type": type_,
        "shkeptncontext": f"ctx-{event_id}",
        "data": {
            "project": "sockshop",
            "stage": "production",
            "service": "carts",
            "status": "succeeded",
            "result": result,
            "approval": strategies,
        },
    }


@pytest.mark.parametrize(
    ("result", "strategies", "strategy"),
    [
        ("pass", {"pass": "automatic", "warning": "manual"}, "automatic"),
        ("warning", {"pass": "automatic", "warning": "manual"}, "manual"),
        ("Pass", {"pass": "Automatic"}, "automatic"),
        ("fail", {"pass": "automatic", "warning": "automatic"}, ""),
        ("", {"pass": "automatic"}, ""),
        ("pass", "automatic", ""),
        ("pass", {}, ""),
    ],
)
def test_the_strategy_is_the_one_for_the_approvals_result(result: str, strategies: Any, strategy: str) -> None:
    assert approval_strategy(approval(result, strategies)["data"]) == strategy


def test_only_approval_triggered_can_be_automatic() -> None:
    data = approval("pass", {"pass": "automatic"})["data"]
    assert is_automatic_approval(APPROVAL, data)
    assert not is_automatic_approval("sh.keptn.event.approval.finished", data)
    assert not is_automatic_approval("sh.keptn.event.approval.started", data)


def routes_of(router: Router, raw: dict[str, Any]) -> list[str]:
    return [target.route for target in router.targets(event_from_mapping(raw))]


def test_an_automatic_approval_reaches_only_routes_that_ask_for_it(tmp_path: Path) -> None:
    path = tmp_path / "notifier.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    router = Router(load_config(path, env={"PUBSUB_TOPIC": "sh.keptn.>"}))
    automatic = approval("pass", {"pass": "automatic", "warning": "manual"})
    assert routes_of(router, automatic) == ["audit"]
    _, verdicts = router.explain(event_from_mapping(automatic))
    assert verdicts[0].reason == (
        "an automatic approval needs nobody to act (set automatic_approvals: true in match to post it)"
    )
    manual = approval("warning", {"pass": "automatic", "warning": "manual"})
    assert routes_of(router, manual) == ["approvals", "audit"]
    finished = approval("pass", {"pass": "automatic"}, type_="sh.keptn.event.approval.finished")
    assert routes_of(router, finished) == ["approvals", "audit"]


def test_environment_mode_skips_automatic_approvals() -> None:
    router = Router(load_config(None, env={"PUBSUB_TOPIC": "sh.keptn.>"}))
    assert routes_of(router, approval("pass", {"pass": "automatic"})) == []
    assert routes_of(router, approval("pass", {"pass": "manual"})) == ["default"]


def test_automatic_approvals_must_be_a_boolean(tmp_path: Path) -> None:
    path = tmp_path / "notifier.yaml"
    path.write_text(CONFIG.replace("automatic_approvals: true", "automatic_approvals: sometimes"), encoding="utf-8")
    with pytest.raises(ConfigError, match="automatic_approvals"):
        load_config(path, env={})


async def test_routes_says_why_an_automatic_approval_goes_nowhere(tmp_path: Path) -> None:
    path = tmp_path / "approval.json"
    path.write_text(json.dumps(approval("pass", {"pass": "automatic", "warning": "manual"})), encoding="utf-8")
    run = await run_cli("routes", path, env={"PUBSUB_TOPIC": "sh.keptn.>"})
    assert run.code == 0, run
    assert "route default: miss (an automatic approval needs nobody to act" in run.stdout, run
    assert "channels: none" in run.stdout, run


async def test_replay_posts_the_manual_approval_and_not_the_automatic_one(tmp_path: Path) -> None:
    (tmp_path / "automatic.json").write_text(
        json.dumps(approval("pass", {"pass": "automatic", "warning": "manual"}, "auto-1")), encoding="utf-8"
    )
    (tmp_path / "manual.json").write_text(
        json.dumps(approval("warning", {"pass": "automatic", "warning": "manual"}, "manual-1")), encoding="utf-8"
    )
    run = await run_cli("replay", tmp_path)  # the default PUBSUB_TOPIC subscribes to approval.triggered
    assert run.code == 0, run
    # the one notification, the manual approval, with the run message its run's first notification posts
    assert printed(run.stdout) == Printed(["WARNING"], 1), run
    assert "✋ Approval needed: sockshop/production/carts" in run.stdout
    assert re.search(r"replayed 2 event\(s\)", run.stderr), run

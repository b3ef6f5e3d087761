"""Which notifications go into a run's thread, and which are also shown in the channel (route threading/broadcast)."""

from pathlib import Path

import pytest
import yaml

from notifier.config.load import load_config
from notifier.config.source import ConfigError
from notifier.keptn.events import KeptnEvent, event_from_mapping
from notifier.pipeline.explain import Router

BOT = {"type": "slack", "token": "xoxb-1-2", "channel": "#prod"}
HOOK = {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/x"}


def event(type_: str, context: str = "ctx-1", **data: object) -> KeptnEvent:
    raw = {"specversion": "1.0", "id": "1", "source": "s", "type": type_, "shkeptncontext": context, "data": data}
    return event_from_mapping(raw)


def router(tmp_path: Path, route: dict[str, object], channels: dict[str, object] | None = None) -> Router:
    channels = channels or {"bot": BOT, "hook": HOOK, "log": {"type": "console"}}
    config = {"channels": channels, "routes": [{"name": "r", "channels": list(channels), **route}]}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return Router(load_config(path, env={"PUBSUB_TOPIC": "sh.keptn.>"}))


def flags(targets_router: Router, item: KeptnEvent) -> dict[str, tuple[bool, bool]]:
    return {t.channel: (t.threaded, t.broadcast) for t in targets_router.targets(item)}


def test_only_a_slack_bot_channel_threads_by_default_and_only_events_of_a_run(tmp_path: Path) -> None:
    r = router(tmp_path, {})
    finished = event("sh.keptn.event.test.finished", result="pass")
    assert flags(r, finished) == {"bot": (True, False), "hook": (False, False), "log": (False, False)}
    assert flags(r, event("sh.keptn.event.test.finished", context=""))["bot"] == (False, False)


@pytest.mark.parametrize("off", ["off", "OFF", False])
def test_threading_off_and_broadcast_off_take_yaml_s_bare_off(tmp_path: Path, off: object) -> None:
    failed = event("sh.keptn.event.evaluation.finished", result="fail")
    assert flags(router(tmp_path, {"threading": off}), failed)["bot"] == (False, False)
    assert flags(router(tmp_path, {"broadcast": off}), failed)["bot"] == (True, False)


@pytest.mark.parametrize(
    ("item", "broadcast"),
    [
        (event("sh.keptn.event.evaluation.finished", result="fail", status="succeeded"), True),
        # the worst result the event reports, as its message says it: "Evaluation failed" is broadcast
        (event("sh.keptn.event.evaluation.finished", result="pass", evaluation={"result": "fail"}), True),
        (event("sh.keptn.event.deployment.finished", result="pass", status="errored"), True),
        (event("sh.keptn.event.dev.delivery.finished", result="fail", status="aborted"), True),
        (event("sh.keptn.event.test.finished", result="warning", status="succeeded"), False),
        # the result a .triggered event carries is the previous task's
        (event("sh.keptn.event.rollback.triggered", result="fail"), False),
        (event("sh.keptn.event.approval.triggered", result="pass", approval={"pass": "manual"}), True),
        (event("sh.keptn.event.approval.triggered", result="pass", approval={"pass": "automatic"}), False),
        # a quality gate with a warning needs a look; another task's warning does not
        (event("sh.keptn.event.evaluation.finished", result="warning", status="succeeded"), True),
        # open problems, a remediation started, an error logged: alarms by their type
        (event("sh.keptn.events.problem", State="OPEN", ProblemTitle="cpu"), True),
        (event("sh.keptn.events.problem", State="RESOLVED", ProblemTitle="cpu"), False),
        (event("sh.keptn.event.production.remediation.triggered", problem={"ProblemTitle": "cpu"}), True),
        (event("sh.keptn.event.production.remediation.triggered", result="pass"), True),
        (event("sh.keptn.event.production.remediation.finished", result="pass", status="succeeded"), False),
        (event("sh.keptn.log.error", message="job failed"), True),
        (event("sh.keptn.log.info", message="job started"), False),
        # a passing task is not broadcast
        (event("sh.keptn.event.test.finished", result="pass", status="succeeded"), False),
    ],
)
def test_the_default_broadcast_is_what_needs_a_person(tmp_path: Path, item: KeptnEvent, broadcast: bool) -> None:
    # a route that posts automatic approvals too (by default no route takes them), to see they are not broadcast
    route = {"match": {"automatic_approvals": True}}
    assert flags(router(tmp_path, route), item)["bot"] == (True, broadcast)


def test_a_configured_broadcast_match_replaces_the_default(tmp_path: Path) -> None:
    r = router(tmp_path, {"broadcast": {"types": ["sh.keptn.event.*.delivery.finished"], "stages": ["production"]}})
    assert flags(r, event("sh.keptn.event.production.delivery.finished", stage="production"))["bot"] == (True, True)
    assert flags(r, event("sh.keptn.event.evaluation.finished", result="fail", stage="production"))["bot"] == (
        True,
        False,
    )
    assert flags(r, event("sh.keptn.events.problem", State="OPEN", stage="production"))["bot"] == (True, False)


def test_a_bad_threading_value_says_what_to_write(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"routes\[0\]\.threading: .*'sequence' or 'off'"):
        router(tmp_path, {"threading": "per-stage"})

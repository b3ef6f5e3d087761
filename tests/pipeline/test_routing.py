from pathlib import Path

from notifier.config.load import load_config
from notifier.keptn.events import event_from_mapping
from notifier.pipeline.explain import Router

CONFIG = """
channels:
  prod: {type: console}
  teams: {type: console}
  log: {type: console}
routes:
  - name: prod-failures
    match: {types: ["sh.keptn.event.evaluation.finished"], projects: [sockshop], stages: [production], results: [fail, warning]}
    channels: [prod, teams]
  - name: labelled
    match: {labels: {team: payments}, statuses: [errored]}
    channels: [teams]
  - name: everything
    match: {types: ["sh.keptn.>"]}
    channels: [log, prod]
"""


def event(type_: str = "sh.keptn.event.evaluation.finished", **data: object):
    return event_from_mapping({"specversion": "1.0", "id": "1", "source": "s", "type": type_, "data": data})


def router(tmp_path: Path, env: dict[str, str] | None = None) -> Router:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    return Router(load_config(path, env={"PUBSUB_TOPIC": "sh.keptn.>", **(env or {})}))


def test_an_event_goes_to_every_matching_route_once_per_channel(tmp_path: Path) -> None:
    targets = router(tmp_path).targets(event(project="sockshop", stage="production", result="fail"))
    assert [(t.channel, t.route) for t in targets] == [
        ("prod", "prod-failures"),
        ("teams", "prod-failures"),
        ("log", "everything"),
    ]


def test_explain_says_why_a_route_missed(tmp_path: Path) -> None:
    rejection, verdicts = router(tmp_path).explain(event(project="sockshop", stage="dev", result="fail"))
    assert rejection is None
    assert verdicts[0].reason == "stage 'dev' is not one of production"
    assert verdicts[1].reason == "status '(none)' is not one of errored"
    assert verdicts[2].matched


def test_labels_and_status_match(tmp_path: Path) -> None:
    targets = router(tmp_path).targets(
        event("sh.keptn.event.deployment.finished", status="Errored", labels={"team": "payments"})
    )
    assert {t.channel for t in targets} == {"teams", "log", "prod"}


def test_subscription_and_distributor_filters_come_first(tmp_path: Path) -> None:
    r = router(tmp_path, {"PUBSUB_TOPIC": "sh.keptn.event.*.finished", "STAGE_FILTER": "production"})
    assert r.targets(event("sh.keptn.event.dev.delivery.finished", stage="production")) == []
    rejection, verdicts = r.explain(event(stage="dev"))
    assert rejection == "stage 'dev' is filtered out by STAGE_FILTER"
    assert not any(v.matched for v in verdicts)
    assert r.targets(event(stage="production", project="x"))


def test_the_route_stage_alone_looks_only_at_the_routes(tmp_path: Path) -> None:
    # The subscription is the stage before: Routes route whatever reaches them, subscribed or not.
    r = router(tmp_path, {"PUBSUB_TOPIC": "sh.keptn.event.*.finished"})
    sequence_end = event("sh.keptn.event.dev.delivery.finished")
    assert r.targets(sequence_end) == []
    assert [(t.channel, t.route) for t in r.routes.targets(sequence_end)] == [
        ("log", "everything"),
        ("prod", "everything"),
    ]


def test_verdicts_under_a_rejection_all_miss_for_that_reason(tmp_path: Path) -> None:
    verdicts = router(tmp_path).routes.checks(event(project="sockshop"), rejection="filtered out")
    assert [(v.route, v.matched, v.reason) for v in verdicts] == [
        ("prod-failures", False, "filtered out"),
        ("labelled", False, "filtered out"),
        ("everything", False, "filtered out"),
    ]
    assert verdicts[2].channels == ("log", "prod")


def test_results_match_the_worst_result_the_event_reports_as_its_message_does(tmp_path: Path) -> None:
    """Keptn's own example says `result: pass` beside a failed evaluation: the message says failed, so does routing."""
    failed_gate = {"result": "fail", "score": 0, "indicatorResults": [{"status": "fail", "displayName": "p95"}]}
    disagreeing = event(project="sockshop", stage="production", result="pass", evaluation=failed_gate)
    chosen = router(tmp_path)
    assert {t.route for t in chosen.targets(disagreeing)} == {"prod-failures", "everything"}
    a_warning_sli = event(
        project="sockshop", stage="production", result="pass",
        evaluation={"result": "pass", "indicatorResults": [{"status": "warning", "displayName": "errors"}]},
    )  # fmt: skip
    assert {t.route for t in chosen.targets(a_warning_sli)} == {"prod-failures", "everything"}
    passed = event(project="sockshop", stage="production", result="pass", evaluation={"result": "pass"})
    assert {t.route for t in chosen.targets(passed)} == {"everything"}
    _, verdicts = chosen.explain(passed)
    assert verdicts[0].reason == "result 'pass' is not one of fail, warning"
    # A status says whether the task ran, not its outcome: an errored task with no result is not a failed result.
    errored = event(project="sockshop", stage="production", status="errored")
    assert {t.route for t in chosen.targets(errored)} == {"everything"}

"""`keptn-notifier preview` as a user runs it: the page it writes, parsed as HTML.

The browser's view of the page is in tests/preview/test_browser.py; here the page must be self-contained, show
what the renderers produced, say where each event goes and why not, and keep hostile event text as text.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import orjson

from notifier.keptn.events import event_from_mapping
from notifier.runs.message import run_message
from notifier.runs.state import run_of
from notifier.templating import TemplateSet, load_samples_by_name
from tests.helpers import (
    EXAMPLES,
    REPO,
    RUNS,
    SAMPLE,
    assert_usage_error,
    keptn_event,
    run_cli,
    write_event,
    write_yaml,
)
from tests.html_checks import HOSTILE, Page, assert_inert


async def test_preview_without_events_shows_every_sample_in_preview_html(tmp_path: Path) -> None:
    run = await run_cli("preview", cwd=tmp_path)
    assert run.code == 0, run
    samples = load_samples_by_name()
    assert run.stdout.startswith(f"wrote preview.html: {len(samples)} event(s)"), run
    assert run.stderr == ""
    page = Page((tmp_path / "preview.html").read_text())
    assert_inert(page)
    assert [attrs["data-event"] for attrs in page.named("section")] == [str(n) for n in range(1, len(samples) + 1)]
    csp = [attrs for attrs in page.named("meta") if attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    templates = TemplateSet(None)
    for name, event in samples.items():
        assert f"{name}.json" in page.text
        assert templates.render(event).title in page.text
    # Both platforms for every event, each the real payload (shown as JSON too).
    assert len(page.with_class("slack")) == len(page.with_class("teams")) == len(samples)
    # Every Slack payload holds its body beside a colour bar.
    assert page.text.count('"color": "#') == page.text.count('"type": "AdaptiveCard"') == len(samples)
    assert not list(tmp_path.glob(".*.tmp")), "the scratch file is left behind"


async def test_preview_says_where_each_event_goes_and_why_not(tmp_path: Path) -> None:
    config = write_yaml(
        tmp_path / "notifier.yaml",
        {
            "channels": {
                "chat": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T0/B0/x"},
                "teams": {"type": "teams", "webhook_url": "https://example.logic.azure.com/wf?sig=abcdefgh123"},
                "log": {"type": "console"},
            },
            "routes": [
                {"name": "gates", "match": {"types": ["sh.keptn.event.evaluation.finished"]}, "channels": ["chat"]},
                {
                    "name": "prod",
                    "match": {"stages": ["production"]},
                    "channels": ["teams", "log"],
                    "template": "default",
                },
            ],
            "settings": {"pubsub_topic": "sh.keptn.event.evaluation.finished,sh.keptn.event.test.finished"},
        },
    )
    events = tmp_path / "events"
    events.mkdir()
    write_event(events / "a-both.json", keptn_event("1", stage="production"))
    write_event(events / "b-staging.json", keptn_event("2", stage="staging"))
    write_event(events / "c-test.json", keptn_event("3", "sh.keptn.event.test.finished", stage="staging"))
    write_event(events / "d-unsubscribed.json", keptn_event("4", "sh.keptn.event.deployment.finished"))
    write_event(events / "e-filtered.json", keptn_event("5", project="other"))
    out = tmp_path / "out.html"
    run = await run_cli("preview", events, "--config", config, "--out", out, env={"PROJECT_FILTER": "sockshop"})
    assert run.code == 0, run
    assert run.stdout == f"wrote {out}: 5 event(s), 3 of them ignored; open it in a browser\n", run
    sections = out.read_text().split("<section")[1:]
    both, staging, test, unsubscribed, filtered = (Page(section) for section in sections)
    # Two templates for the first: the route "prod" asks for `default`, the other gets the evaluation template.
    assert "chat (Slack) via route gates, template sh.keptn.event.evaluation.finished" in both.text
    assert "teams (Teams) via route prod, template default" in both.text
    assert "log (console text) via route prod, template default" in both.text
    assert len(both.with_class("pair")) == 2
    assert "→ chat" in both.text and "→ teams" in both.text
    assert (
        "chat (Slack) via route gates" in staging.text
        and "route prod: stage 'staging' is not one of production" in staging.text
    )
    assert "no Teams channel gets it" in staging.text
    assert "Would not be posted: no route matches it" in test.text
    assert "route gates: type sh.keptn.event.test.finished is not in" in test.text
    assert "Would not be posted: type sh.keptn.event.deployment.finished is not subscribed" in unsubscribed.text
    assert "Would not be posted: project 'other' is filtered out by PROJECT_FILTER" in filtered.text
    for section in (test, unsubscribed, filtered):
        assert len(section.with_class("sk-header")) == 1, "an ignored event still shows its message"


async def test_preview_uses_the_templates_in_templates_dir(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "sh.keptn.event.evaluation.finished.yaml").write_text(
        'title: "Gate {{ outcome }} <b>for</b> {{ project }}"\ntext: "Custom body"\n'
        'facts:\n  - {name: Owner, value: "team-a"}\nlinks:\n  - {title: Runbook, url: "https://runbooks.example/gate"}\n'
    )
    out = tmp_path / "preview.html"
    run = await run_cli("preview", SAMPLE, "--out", out, env={"TEMPLATES_DIR": str(templates)})
    assert run.code == 0, run
    page = Page(out.read_text())
    assert "Gate failed <b>for</b> sockshop" in page.text and "Custom body" in page.text
    assert f"overridden by {templates}" in page.text
    assert "https://runbooks.example/gate" in [attrs["href"] for attrs in page.named("a")]
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "sh.keptn.event.evaluation.finished.yaml").write_text('title: "{{ 1 / 0 }}"\n')
    run = await run_cli("preview", SAMPLE, "--out", out, env={"TEMPLATES_DIR": str(broken)})
    assert run.code == 0 and run.stderr == "", run
    assert "1 template failure(s) shown on the page" in run.stdout, run
    failed = Page(out.read_text()).text
    assert "The template failed: this is the plain fallback." in failed and "division by zero" in failed


async def test_preview_of_a_hostile_event_shows_its_text_as_text(tmp_path: Path) -> None:
    event = keptn_event(
        f"id-{HOSTILE}",
        project=f"p{HOSTILE}",
        message=f"msg {HOSTILE}",
        labels={f"k{HOSTILE}": f"v{HOSTILE}"},
    )
    event["type"] = f"sh.keptn.event.{HOSTILE}.finished"
    path = write_event(tmp_path / f"evil{'<b>'}.json", event)
    run = await run_cli("preview", path, "--out", "-", env={"PUBSUB_TOPIC": "sh.keptn.>"})
    assert run.code == 0, run
    page = Page(run.stdout)
    assert_inert(page)
    assert page.text.count('<script>alert("pwned")</script>') >= 6
    assert "evil<b>.json" in page.text


async def test_preview_reads_folders_and_batch_files(tmp_path: Path) -> None:
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps([keptn_event("1"), keptn_event("2", stage="staging")]))
    run = await run_cli("preview", batch, EXAMPLES, "--out", "-")
    assert run.code == 0, run
    page = Page(run.stdout)
    assert "batch.json #1" in page.text and "batch.json #2" in page.text
    assert len(page.named("section")) == 2 + len(list(EXAMPLES.glob("*.json")))


async def test_preview_refuses_bad_input_with_one_clear_line(tmp_path: Path) -> None:
    invalid = tmp_path / "invalid.json"
    invalid.write_text("{not json")
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    empty_list = tmp_path / "empty-list.json"
    empty_list.write_text("[]")
    out = tmp_path / "out.html"
    assert_usage_error(
        await run_cli("preview", tmp_path / "missing.json", "--out", out), "missing.json", "does not exist"
    )
    assert_usage_error(await run_cli("preview", invalid, "--out", out), "invalid.json", "not valid JSON")
    assert_usage_error(await run_cli("preview", empty_dir, "--out", out), str(empty_dir), "no .json files")
    assert_usage_error(await run_cli("preview", empty_list, "--out", out), "no events")
    assert not out.exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    for target in (blocker / "preview.html", tmp_path / "no-such-dir" / "preview.html", empty_dir):
        run = await run_cli("preview", SAMPLE, "--out", target)
        assert_usage_error(run, f"cannot write {target}", "--out")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty", "empty-list.json", "file", "invalid.json"]


async def test_preview_explains_itself() -> None:
    run = await run_cli("preview", "--help")
    assert run.code == 0, run
    words = " ".join(run.stdout.split())  # as read, whatever the terminal's width wraps
    # The default output names its place, which in the image is not the state volume.
    for text in ("EVENT.json|DIR", "--config", "--out", "preview.html", "samples", "current directory", "/tmp"):
        assert text in words, f"{text!r} missing from `preview --help`\n{run}"
    top = await run_cli("--help")
    assert "preview" in top.stdout and "--builder-link" in (await run_cli("render", "--help")).stdout


async def test_the_readme_preview_command_works_and_matches_its_screenshot(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    match = re.search(r"\*\*Look before you post\.\*\*.*?```sh\n(.*?)```", readme, re.DOTALL)
    assert match, "README.md has no preview example under 'Look before you post'"
    words = shlex.split(match.group(1).split("#", 1)[0].replace("\\\n", " "))
    start = words.index("keptn-notifier")
    env = dict(word.split("=", 1) for word in words[:start])
    out = tmp_path / "preview.html"
    run = await run_cli(*words[start + 1 :], "--out", out, env=env, cwd=REPO)
    assert run.code == 0, run
    page = Page(out.read_text())
    assert "Open in Bridge" in page.text and "Run trace" in page.text
    assert "![" in readme and "(docs/preview.png)" in readme and (REPO / "docs" / "preview.png").stat().st_size > 50_000


# A Slack bot channel (threads on) and a webhook beside it, taking every Keptn event.
THREADED = {
    "channels": {
        "oncall": {"type": "slack", "token": "xoxb-1-2-preview", "channel": "#oncall"},
        "hook": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T0/B0/x"},
    },
    "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["oncall", "hook"]}],
    "settings": {"pubsub_topic": "sh.keptn.>"},
}
POST = re.compile(r'<div class="sk-post (sk-[a-z-]+)" data-(?:run|event)="([^"]+)"')
REPLY = re.compile(r'<div class="sk-reply" data-event="(\d+)" data-broadcast="(true|false)"')


async def test_preview_shows_a_bot_channel_as_its_readers_see_it_one_thread_per_run(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "notifier.yaml", THREADED)
    no_context = keptn_event("plain", "sh.keptn.event.test.finished", result="pass")
    no_context["shkeptncontext"] = ""
    files = [
        EXAMPLES / "remediation-triggered-dynatrace.json",  # 1: run c1a2e9b4, an open problem
        EXAMPLES / "log-error.json",  # 2: run 9f0d7c21
        RUNS / "evaluation-failed" / "04-deployment.finished.json",  # 3: run a8e4d2c6, passed
        EXAMPLES / "problem-legacy-resolved.json",  # 4: run c1a2e9b4 again, resolved
        write_event(tmp_path / "no-context.json", no_context),  # 5: no run: a message of its own
    ]
    run = await run_cli("preview", *files, "--config", config, "--out", "-")
    assert run.code == 0, run
    page = Page(run.stdout)
    assert_inert(page)
    [view] = run.stdout.split('<section class="channel-view"')[1:]
    view = view.split("</section>")[0]
    assert 'data-channel="oncall"' in view and "hook" not in view
    # the channel in the order posted: each run message at its run's first event, a broadcast reply at its own
    assert POST.findall(view) == [
        ("sk-run-message", "c1a2e9b4-7d35-4f60-8e2a-0b9c3d4e5f61"),
        ("sk-broadcast", "c1a2e9b4-7d35-4f60-8e2a-0b9c3d4e5f61"),
        ("sk-run-message", "9f0d7c21-5b7a-4e8e-b1c3-64a2f5d8e917"),
        ("sk-broadcast", "9f0d7c21-5b7a-4e8e-b1c3-64a2f5d8e917"),
        ("sk-run-message", "a8e4d2c6-1f3b-4e5a-8c7d-9b0e2f4a6c18"),
        ("sk-single", "5"),
    ]
    problem, error, deployment = (Page(block) for block in view.split('class="sk-post sk-run-message"')[1:])
    # each thread under its run message, the broadcast replies marked
    assert [REPLY.findall(block) for block in view.split('class="sk-post sk-run-message"')[1:]] == [
        [("1", "true"), ("4", "false")],
        [("2", "true")],
        [("3", "false")],
    ]
    # the run message as the service would have edited it after the run's events, drawn from its own code
    events = [event_from_mapping(orjson.loads(path.read_bytes())) for path in (files[0], files[3])]
    title = run_message(run_of(events)).title
    assert title == "✅ Problem resolved: Response time degradation (sockshop/carts in production)"
    assert title in problem.text and "2 replies" in problem.text and "also sent to the channel" in problem.text
    assert "💥 sockshop/carts: error in staging test" in error.text
    assert "🔄 sockshop/carts: dev running" in deployment.text  # a run never passed before its end
    assert f"replied to a thread: {title}" in page.text
    # each event's own section says where it went
    assert "oncall (Slack) via route all, template sequence.remediation.triggered, a reply in the thread of run " in (
        page.text
    )
    assert "c1a2e9b4, also sent to the channel" in page.text and "a reply in the thread of run a8e4d2c6</li>" in (
        run.stdout
    )
    assert "Slack bot channels, one thread per Keptn run: oncall." in page.text


async def test_preview_without_a_bot_channel_shows_no_channel_view(tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "notifier.yaml", {**THREADED, "routes": [{"name": "all", "channels": ["hook"]}]})
    run = await run_cli("preview", EXAMPLES / "log-error.json", "--config", config, "--out", "-")
    assert run.code == 0, run
    assert "channel-view" not in run.stdout.split("</style>")[1] and "one thread per Keptn run" not in run.stdout

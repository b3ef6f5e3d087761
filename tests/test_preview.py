"""`keptn-notifier preview` as a user runs it: the page it writes, parsed as HTML.

The browser's view of the page is in test_preview_browser.py; here the page must be self-contained, show
what the renderers produced, say where each event goes and why not, and keep hostile event text as text.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from notifier.templating import TemplateSet, load_samples_by_name
from tests.helpers import EXAMPLES, REPO, SAMPLE, assert_usage_error, keptn_event, run_cli, write_event, write_yaml
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
    for text in ("EVENT.json|DIR", "--config", "--out", "preview.html", "samples"):
        assert text in run.stdout, f"{text!r} missing from `preview --help`\n{run}"
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

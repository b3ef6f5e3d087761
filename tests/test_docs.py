"""The docs stay true to what ships: every metric and shipped alert is in docs/operations.md, every link
between the pages leads somewhere (the file exists, and so does the heading a `#fragment` names), the README's
pictures are small and can be made again as docs/templates.md says, and the README's test command is CI's."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from notifier.metrics import Metrics
from tests.helpers import REPO, run_cli

OPERATIONS = REPO / "docs" / "operations.md"
PAGES = sorted(
    [
        REPO / "README.md",
        REPO / "deploy" / "README.md",
        REPO / "examples" / "runs" / "README.md",
        *REPO.glob("docs/*.md"),
    ]
)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_CODE = re.compile(r"`[^`\n]*`")


def exported_metrics() -> dict[str, set[str]]:
    """Each metric as scraped (a counter with its `_total`) and its label names, from the service's metrics."""
    metrics = Metrics()
    found = {}
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            # prometheus_client keeps the name (a counter's without `_total`) and the label names only here.
            found[collector._name + ("_total" if collector._type == "counter" else "")] = set(collector._labelnames)
    registered = {family.name for family in metrics.registry.collect()}
    assert {name.removesuffix("_total") for name in found} == registered, "a metric outside the Metrics attributes"
    return found


def documented_metrics() -> dict[str, set[str]]:
    """The metrics table of docs/operations.md: name -> the labels its second cell names."""
    section = OPERATIONS.read_text(encoding="utf-8").split("\n## Metrics\n", 1)[1].split("\n#", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| `keptn_notifier_")]
    return {cells[0].strip().strip("`"): set(re.findall(r"`(\w+)`", cells[1])) for cells in rows}


def test_operations_lists_every_metric_with_its_labels() -> None:
    exported = exported_metrics()
    assert "keptn_notifier_notifications_dead_total" in exported and "keptn_notifier_queue_depth" in exported
    assert exported["keptn_notifier_notifications_dead_total"] == {"channel", "reason"}
    assert documented_metrics() == exported


def test_operations_names_every_shipped_alert_and_its_expression() -> None:
    rule = yaml.safe_load((REPO / "deploy" / "components" / "monitoring" / "prometheusrule.yaml").read_text())
    alerts = [alert for group in rule["spec"]["groups"] for alert in group["rules"]]
    text = OPERATIONS.read_text(encoding="utf-8")
    assert alerts
    for alert in alerts:
        assert f"**`{alert['alert']}`**" in text, alert["alert"]
        metric = re.search(r"keptn_notifier_\w+", alert["expr"])
        assert metric and metric.group(0) in text, alert["expr"]


def anchors(page: Path) -> set[str]:
    """The fragments GitHub gives the headings of a Markdown page: lower case, punctuation dropped, spaces as
    hyphens, a repeated heading numbered."""
    found: set[str] = set()
    for line in _FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        heading = re.match(r"^#{1,6} (.+)$", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            candidate, number = slug, 0
            while candidate in found:
                number += 1
                candidate = f"{slug}-{number}"
            found.add(candidate)
    return found


def links(page: Path) -> list[str]:
    """The relative links of a page, outside code."""
    return [
        target
        for target in _LINK.findall(_CODE.sub("", _FENCE.sub("", page.read_text(encoding="utf-8"))))
        if not re.match(r"^[a-z]+:", target)
    ]


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(REPO)) for page in PAGES])
def test_every_link_leads_somewhere(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, fragment = target.partition("#")
        goal = (page.parent / path).resolve() if path else page
        if not goal.exists():
            broken.append(f"{target}: no such file")
        elif fragment and goal.suffix == ".md" and fragment not in anchors(goal):
            broken.append(f"{target}: no such heading in {goal.relative_to(REPO)}")
    assert not broken, broken


def test_the_anchor_rule_reads_headings_as_github_does(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Slack bot token (`chat:write`)\n## The NATS intake (`NATS_URL`)\n## Usage\n## Usage\n")
    assert anchors(page) == {"slack-bot-token-chatwrite", "the-nats-intake-nats_url", "usage", "usage-1"}
    (tmp_path / "other.md").write_text("[a](page.md#usage-1) [b](page.md#usage-2) [c](gone.md) `[d](gone.md)`\n")
    assert links(tmp_path / "other.md") == ["page.md#usage-1", "page.md#usage-2", "gone.md"]


def picture_commands() -> list[tuple[list[str], dict[str, str], Path]]:
    """The preview commands docs/templates.md gives for the README's pictures: (arguments, environment, picture)."""
    text = (REPO / "docs" / "templates.md").read_text(encoding="utf-8").split("The README's pictures", 1)[1]
    block = text.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    commands = []
    previews = [shlex.split(line) for line in block.splitlines() if "keptn-notifier preview" in line]
    shots = [shlex.split(line) for line in block.splitlines() if "tests.chromium" in line]
    for words, shot in zip(previews, shots, strict=True):
        start = words.index("keptn-notifier")
        env = dict(word.split("=", 1) for word in words[:start])
        arguments = words[start + 1 : words.index("--out")]
        commands.append((arguments, env, REPO / shot[shot.index("tests.chromium") + 2]))
    return commands


async def test_the_readme_pictures_are_small_and_their_previews_run(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = picture_commands()
    assert {picture.name for _, _, picture in commands} == {"preview.png", "thread.png"}
    for arguments, env, picture in commands:
        assert f"]({picture.relative_to(REPO)})" in readme, picture
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 50_000 < picture.stat().st_size < 300_000, picture
        out = tmp_path / f"{picture.stem}.html"
        run = await run_cli(*arguments, "--out", out, env=env, cwd=REPO)
        assert run.code == 0, run
    thread = (tmp_path / "thread.html").read_text(encoding="utf-8")
    assert 'id="channel-1"' in thread and "sk-reply" in thread and "staging delivery failed" in thread


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    marker = next(i for i, line in enumerate(ci) if "The same line as in README.md" in line)
    readme = (REPO / "README.md").read_text(encoding="utf-8").split("\n## Run the tests\n", 1)[1]
    command = readme.split("```sh\n", 1)[1].split("\n```", 1)[0]
    assert command.endswith(f" && {ci[marker + 1]}"), (command, ci[marker + 1])

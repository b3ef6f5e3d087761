"""The preview page in a real browser (headless Chromium): what a reader sees, and that it is offline and clean.

Needs Debian's `chromium` (`.ci/run` installs it). Without it the tests skip, except in CI (`CI=true`),
where a missing browser fails them: a check that silently does not run is no check.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from notifier.render.plaintext import one_line
from notifier.templating import TemplateSet, load_samples_by_name
from tests.chromium import find_chromium, open_page, png_pixels, png_size
from tests.helpers import EXAMPLES, RUNS, keptn_event, run_cli, write_event, write_yaml

PAGE_WIDTH = 1400
SHOWN = ("evaluation-finished-fail", "approval-triggered-manual", "deployment-finished", "problem-legacy-resolved")
HOSTILE = '<script>window.pwned = 1</script><img src="http://127.0.0.1:9/x.png" onerror="window.pwned = 2">'

# An element scrolled into view, with whether a reader can see it: laid out, not hidden, inside the page's
# width, not covered; null for no element.
LOOK = """
const look = element => {
  if (!element) return null;
  element.scrollIntoView({block: 'center'});
  const box = element.getBoundingClientRect();
  const style = getComputedStyle(element);
  const hit = document.elementFromPoint(box.left + Math.min(box.width / 2, 40), box.top + box.height / 2);
  return {
    text: element.innerText,
    box: {x: box.left + scrollX, y: box.top + scrollY, width: box.width, height: box.height},
    shown: style.visibility === 'visible' && style.display !== 'none' && Number(style.opacity) > 0.9,
    inside: box.left >= 0 && box.right <= document.documentElement.clientWidth,
    onTop: hit !== null && (hit === element || element.contains(hit)),
  };
};
"""

# For each event's section: its Slack header and its Teams title (the card's first TextBlock), as LOOK sees them.
TITLES = (
    "(() => {"
    + LOOK
    + """
  return [...document.querySelectorAll('section.event')].map(section => ({
    event: section.dataset.event,
    slack: look(section.querySelector('.slack .sk-header')),
    teams: look(section.querySelector('.teams .ac-textblock')),
  }));
})()
"""
)


@pytest.fixture
def chromium() -> str:
    found = find_chromium()
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing, and CI=true: install it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs these tests")
    return found


def has_ink(png: bytes) -> bool:
    """Dark text on a light ground: both kinds of pixel in the picture."""
    channels, rows = png_pixels(png)
    levels = [sum(row[x : x + 3]) // 3 for row in rows for x in range(0, len(row) - 2, channels)]
    return min(levels) < 100 and max(levels) > 200


async def write_preview(tmp_path: Path, *paths: Path, env: dict[str, str] | None = None) -> Path:
    out = tmp_path / "preview.html"
    run = await run_cli("preview", *paths, "--out", out, env=env)
    assert run.code == 0, run
    return out


async def test_each_events_title_is_visible_offline_and_without_errors(chromium: str, tmp_path: Path) -> None:
    samples = load_samples_by_name()
    page_path = await write_preview(tmp_path, *(EXAMPLES / f"{name}.json" for name in SHOWN))
    templates = TemplateSet(None)
    expected = [one_line(templates.render(samples[name]).title) for name in SHOWN]
    async with open_page(page_path, PAGE_WIDTH) as page:
        titles: list[dict[str, Any]] = await page.evaluate(TITLES)
        assert [title["event"] for title in titles] == [str(n) for n in range(1, len(SHOWN) + 1)]
        for want, seen in zip(expected, titles, strict=True):
            for platform in ("slack", "teams"):
                look = seen[platform]
                assert look is not None, f"no {platform} title in event {seen['event']}"
                assert want in " ".join(look["text"].split()), (platform, want, look["text"])
                assert look["shown"] and look["inside"] and look["onTop"], (platform, want, look)
                assert look["box"]["width"] > 50 and look["box"]["height"] > 10, (platform, look)
                assert has_ink(await page.screenshot(look["box"])), f"nothing drawn where the {platform} title is"
        shot = await page.screenshot()
        width, height = png_size(shot)
        assert width == PAGE_WIDTH and height > 400 * len(SHOWN), (width, height)
        assert page.errors == [], page.errors
        assert page.requests == [], f"the page loaded {page.requests}"


async def test_hostile_event_text_shows_as_text_in_the_browser(chromium: str, tmp_path: Path) -> None:
    event = keptn_event("evil", project=f"p{HOSTILE}", message=f"msg {HOSTILE}", labels={"build": HOSTILE})
    path = write_event(tmp_path / "evil.json", event)
    page_path = await write_preview(tmp_path, path, env={"PUBSUB_TOPIC": "sh.keptn.>"})
    async with open_page(page_path, PAGE_WIDTH) as page:
        state = await page.evaluate(
            "({pwned: window.pwned ?? null, scripts: document.scripts.length,"
            " images: document.images.length, text: document.body.innerText})"
        )
        assert state["pwned"] is None and state["scripts"] == 0 and state["images"] == 0, state
        assert f"p{HOSTILE}" in state["text"]
        assert page.errors == [] and page.requests == [], (page.errors, page.requests)


async def test_the_harness_sees_script_errors_and_requests(chromium: str, tmp_path: Path) -> None:
    """The two checks above can fail: a page that throws and fetches is caught doing both."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><body><p>hi</p><script>throw new Error("boom")</script>'
        '<img src="http://127.0.0.1:9/nothing.png"></body></html>'
    )
    async with open_page(bad) as page:
        assert await page.evaluate("document.body.innerText") == "hi"
        assert any("boom" in error for error in page.errors), page.errors
        assert "http://127.0.0.1:9/nothing.png" in page.requests, page.requests


# The channel view of a Slack bot channel: each run message's header and its replies' headers, and the replies
# that are also listed in the channel (children of the channel list, not of a thread).
CHANNEL_VIEW = (
    "(() => {"
    + LOOK
    + """
  const view = document.querySelector('section.channel-view .slack-pane');
  return {
    runs: [...view.querySelectorAll(':scope > .sk-run-message')].map(run => ({
      context: run.dataset.run,
      header: look(run.querySelector(':scope > .sk-message .sk-header')),
      replies: [...run.querySelectorAll(':scope > .sk-thread > .sk-reply')].map(reply => ({
        event: reply.dataset.event, broadcast: reply.dataset.broadcast, header: look(reply.querySelector('.sk-header')),
      })),
    })),
    broadcasts: [...view.querySelectorAll(':scope > .sk-broadcast')].map(post => ({
      event: post.dataset.event, header: look(post.querySelector('.sk-header')),
    })),
  };
})()
"""
)


async def test_a_bot_channel_shows_run_messages_above_their_replies_and_broadcasts_in_the_channel(
    chromium: str, tmp_path: Path
) -> None:
    config = write_yaml(
        tmp_path / "notifier.yaml",
        {
            "channels": {"oncall": {"type": "slack", "token": "xoxb-1-2-preview", "channel": "#oncall"}},
            "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["oncall"]}],
            "settings": {"pubsub_topic": "sh.keptn.>"},
        },
    )
    files = [EXAMPLES / f"{name}.json" for name in ("remediation-triggered-dynatrace", "log-error")]
    files += [RUNS / "evaluation-failed" / "04-deployment.finished.json", EXAMPLES / "problem-legacy-resolved.json"]
    out = tmp_path / "preview.html"
    run = await run_cli("preview", *files, "--config", config, "--out", out)
    assert run.code == 0, run
    async with open_page(out, PAGE_WIDTH) as page:
        view: dict[str, Any] = await page.evaluate(CHANNEL_VIEW)
        runs = {item["context"][:8]: item for item in view["runs"]}
        assert list(runs) == ["c1a2e9b4", "9f0d7c21", "a8e4d2c6"], view
        assert "Problem resolved: Response time degradation" in runs["c1a2e9b4"]["header"]["text"]
        assert "error in staging test" in runs["9f0d7c21"]["header"]["text"]
        assert [[reply["event"] for reply in item["replies"]] for item in runs.values()] == [["1", "4"], ["2"], ["3"]]
        for item in runs.values():
            parent = item["header"]
            assert parent["shown"] and parent["inside"] and parent["onTop"], parent
            for reply in item["replies"]:
                child = reply["header"]
                assert child["shown"] and child["inside"] and child["onTop"], child
                # beneath the run message, and indented as Slack's thread view is
                assert child["box"]["y"] >= parent["box"]["y"] + parent["box"]["height"], (parent, child)
                assert child["box"]["x"] >= parent["box"]["x"] + 30, (parent, child)
        # the replies that need a person are also in the channel, as messages of the channel list
        broadcast = [reply for item in runs.values() for reply in item["replies"] if reply["broadcast"] == "true"]
        assert [reply["event"] for reply in broadcast] == ["1", "2"]
        assert [post["event"] for post in view["broadcasts"]] == ["1", "2"]
        for post, reply in zip(view["broadcasts"], broadcast, strict=True):
            seen = post["header"]
            assert seen["text"] == reply["header"]["text"] and seen["shown"] and seen["onTop"], (seen, reply)
            assert seen["box"]["x"] < reply["header"]["box"]["x"], "listed in the channel, not in a thread"
            assert has_ink(await page.screenshot(seen["box"])), "nothing drawn where the broadcast reply is"
        assert has_ink(await page.screenshot(runs["c1a2e9b4"]["header"]["box"]))
        assert page.errors == [] and page.requests == [], (page.errors, page.requests)

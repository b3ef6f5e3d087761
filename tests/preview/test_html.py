"""The payload-to-HTML converters of the preview, and Block Kit Builder links, on their own.

Every string in a payload may come from an event, so each test feeds hostile text through the real renderers
and checks it comes out as text; the formatting each platform applies is checked against small inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from notifier.message import Fact, Link, Message, Severity
from notifier.preview.slack_builder import BUILDER_URL, builder_link
from notifier.preview.slack_html import attachment_colour, mrkdwn, slack_html
from notifier.preview.teams_html import markdown, teams_html
from notifier.render.slack import render_slack
from notifier.render.teams import render_teams
from notifier.templating import TemplateSet, load_samples_by_name
from tests.helpers import SAMPLE, assert_usage_error, run_cli, write_yaml
from tests.html_checks import HOSTILE, Page, assert_inert


def hostile_message() -> Message:
    return Message(
        title=f"Deploy {HOSTILE}",
        severity=Severity.FAILURE,
        text=f"line *one* {HOSTILE}\n<!channel> <https://evil.example|click> `{HOSTILE}`",
        facts=(Fact(f"name {HOSTILE}", f"value {HOSTILE} [x](javascript:alert(1)) **b**"),),
        links=(Link(f"button {HOSTILE}", "https://bridge.example.com/x?a=1&b=<2>"), Link("js", "javascript:alert(1)")),
        footer=f"footer {HOSTILE}",
    )


# -- the HTML converters -----------------------------------------------------------------------------------


@pytest.mark.parametrize("draw", [lambda m: slack_html(render_slack(m)), lambda m: teams_html(render_teams(m))])
def test_hostile_text_in_a_message_stays_text(draw: Any) -> None:
    page = Page(f"<div>{draw(hostile_message())}</div>")
    assert_inert(page)
    # The reader sees the characters the event carried, markup and all, and mentions resolve to nothing.
    assert page.text.count('<script>alert("pwned")</script>') >= 4, page.text
    assert '<img src=x onerror="alert(1)">' in page.text
    assert not page.with_class("sk-mention") and not page.with_class("ac-mention")
    assert [attrs["href"] for attrs in page.named("a")] == ["https://bridge.example.com/x?a=1&b=%3C2%3E"]


def test_slack_mrkdwn_formats_like_slack_and_escapes_everything_else() -> None:
    assert mrkdwn("*bold* _it_ ~gone~ `x<y`") == '<b>bold</b> <i>it</i> <s>gone</s> <code class="sk-code">x&lt;y</code>'
    assert mrkdwn("a*b*c and * spaced *") == "a*b*c and * spaced *"
    assert mrkdwn("&lt;b&gt; &amp;amp; &amp;lt;") == "&lt;b&gt; &amp;amp; &amp;lt;"
    assert mrkdwn(":white_check_mark: :no_such_emoji:") == "✅ :no_such_emoji:"
    assert mrkdwn("<!here> <@U123|ann> <#C1|deploys>").count('class="sk-mention"') == 3
    safe = mrkdwn("<https://example.com/a?b=1&amp;c=2|the &lt;site&gt;>")
    assert 'href="https://example.com/a?b=1&amp;c=2"' in safe and ">the &lt;site&gt;</a>" in safe
    assert mrkdwn("<javascript:alert(1)|click>") == "click"
    assert mrkdwn("```<pre>\n*x*```") == '<pre class="sk-pre">&lt;pre&gt;\n*x*</pre>'


def test_teams_markdown_honours_the_backslash_escapes_the_renderer_writes() -> None:
    assert markdown(r"\*\*not bold\*\* \[x\]\(https://a\) \<at\>Ann\</at\>") == (
        "**not bold** [x](https://a) &lt;at&gt;Ann&lt;/at&gt;"
    )
    assert markdown("**bold** _it_ <at>Ann</at>") == '<b>bold</b> <i>it</i> <span class="ac-mention">Ann</span>'
    assert markdown("- one\n\\- two") == "• one\n- two"
    assert markdown("[x](https://a.example/) [y](javascript:alert(1))") == (
        '<a class="ac-link" href="https://a.example/" title="https://a.example/" target="_blank" '
        'rel="noopener noreferrer">x</a> y'
    )


def test_an_attachment_colour_bar_takes_only_real_colours() -> None:
    assert attachment_colour("danger") == "#e01e5a"
    assert attachment_colour("#36A64F") == "#36a64f"
    assert attachment_colour("36a64f") == "#36a64f"
    for hostile in ("red; background: url(https://x)", '#fff" onmouseover="x', None, 7):
        assert attachment_colour(hostile) == "#dddddd"
    page = Page(slack_html({"attachments": [{"color": "good", "blocks": [{"type": "divider"}], "text": "*hi*"}]}))
    assert page.with_class("sk-attachment")[0]["style"] == "border-left-color: #2eb67d"
    assert "hi" in page.text and page.named("b")


def test_the_preview_draws_the_severity_bar_beside_the_body_of_a_rendered_message() -> None:
    message = Message(title="Evaluation failed", severity=Severity.FAILURE, text="2 of 3 SLIs missed", footer="run 1")
    page = Page(slack_html(render_slack(message)))
    [bar] = page.with_class("sk-attachment")
    assert bar["style"] == "border-left-color: #e01e5a"
    assert len(page.with_class("sk-header")) == 1 and "Evaluation failed" in page.text
    assert "2 of 3 SLIs missed" in page.text


def test_every_shape_the_renderers_emit_is_drawn() -> None:
    """No sample's Slack blocks or Teams card elements fall through to "not previewed"."""
    templates = TemplateSet(None, "https://bridge.example.com")
    many_links = Message(title="t", links=tuple(Link(f"l{n}", f"https://e.example/{n}") for n in range(8)))
    messages = [templates.render(event) for event in load_samples_by_name().values()] + [many_links]
    for message in messages:
        for html in (slack_html(render_slack(message)), teams_html(render_teams(message))):
            assert "not previewed" not in html, html
    # Several rows of Teams links become ActionSets in the body; all eight links are drawn.
    assert len(Page(teams_html(render_teams(many_links))).named("a")) == 8


def test_elements_the_renderers_do_not_emit_are_drawn_or_named() -> None:
    card = {
        "type": "AdaptiveCard",
        "body": [
            {
                "type": "ColumnSet",
                "columns": [
                    {"type": "Column", "width": "auto", "items": [{"type": "TextBlock", "text": "left"}]},
                    {"type": "Column", "width": "80px; background: url(x)", "items": [{"type": "Image", "url": "x"}]},
                    {"type": "Column", "width": 2, "items": [{"type": "Media"}]},
                ],
            }
        ],
        "actions": [{"type": "Action.ShowCard", "title": "more"}, {"type": "Action.Http", "title": "x"}],
    }
    page = Page(teams_html(card))
    assert_inert(page)
    assert [attrs["style"] for attrs in page.with_class("ac-column")] == [
        "flex: 0 0 auto",
        "flex: 1 1 0",
        "flex: 2 2 0",
    ]
    assert "left" in page.text and "[image: ]" in page.text and "more" in page.text
    assert "'Media'" in page.text and "'Action.Http'" in page.text
    slack = Page(slack_html({"blocks": [{"type": "rich_text"}, {"type": "image", "image_url": "https://x/y.png"}]}))
    assert_inert(slack)
    assert "'rich_text'" in slack.text and "[image: ]" in slack.text


# -- Block Kit Builder links -------------------------------------------------------------------------------


def test_a_builder_link_decodes_back_to_the_payload() -> None:
    payload = render_slack(hostile_message())
    link = builder_link(payload)
    assert link.startswith(BUILDER_URL)
    fragment = link.removeprefix(BUILDER_URL)
    assert all(c not in fragment for c in ' "<>{}#&'), "the fragment must be fully URL-encoded"
    # The body rides in the coloured attachment, and the builder shows it beside its bar.
    assert json.loads(unquote(fragment)) == {"blocks": payload["blocks"], "attachments": payload["attachments"]}
    without_attachment = {key: value for key, value in payload.items() if key != "attachments"}
    assert json.loads(unquote(builder_link(without_attachment).removeprefix(BUILDER_URL))) == {
        "blocks": payload["blocks"]
    }


async def test_render_prints_a_builder_link_for_the_slack_payload(tmp_path: Path) -> None:
    payload = json.loads((await run_cli("render", SAMPLE, "--format", "slack")).stdout)
    run = await run_cli("render", SAMPLE, "--format", "slack", "--builder-link")
    assert run.code == 0, run
    assert run.stdout.count("\n") == 1 and run.stdout.startswith(BUILDER_URL)
    assert json.loads(unquote(run.stdout.strip().removeprefix(BUILDER_URL))) == {
        "blocks": payload["blocks"],
        "attachments": payload["attachments"],
    }
    config = write_yaml(
        tmp_path / "notifier.yaml",
        {
            "channels": {"chat": {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T0/B0/x"}},
            "routes": [{"name": "all", "channels": ["chat"]}],
        },
    )
    by_channel = await run_cli("render", SAMPLE, "--config", config, "--channel", "chat", "--builder-link")
    assert by_channel.stdout == run.stdout, by_channel
    assert_usage_error(
        await run_cli("render", SAMPLE, "--format", "teams", "--builder-link"), "--builder-link", "slack"
    )
    assert_usage_error(await run_cli("render", SAMPLE, "--builder-link"), "--builder-link", "text")

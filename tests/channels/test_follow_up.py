"""Threads and edits: the Slack bot replies under or replaces a message it posted, over loopback to the fake
Slack Web API; every other channel says it cannot, and sends nothing."""

from __future__ import annotations

import pytest

from notifier.channels import build_channel
from notifier.channels.base import ChannelContext, Outcome
from notifier.channels.console import ConsoleConfig
from notifier.channels.slack import SlackConfig
from notifier.channels.teams import TeamsConfig
from notifier.message import MessageRef
from tests.fakes import FAKE_CHANNEL_ID, POST_MESSAGE, UPDATE_MESSAGE, FakeChatServer, Reply

TOKEN = "xoxb-1111-2222-T0kenS3cretPart"
FIRST = {"text": "carts 0.13.2: deploying to production", "blocks": [{"type": "divider"}], "unfurl_links": False}
LATER = {"text": "carts 0.13.2 is live in production", "blocks": [{"type": "divider"}], "unfurl_links": False}
HEADER = {"type": "header", "text": {"type": "plain_text", "text": "carts run"}}
NEW_BODY = [{"type": "section", "text": {"type": "mrkdwn", "text": "new body"}}]


def bot(server: FakeChatServer, context: ChannelContext, channel: str = "#deployments"):
    config = SlackConfig(type="slack", token=TOKEN, channel=channel, api_url=server.url + "/api/")
    return build_channel("bot", config, context)


async def test_a_bot_post_answers_where_the_message_is(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    channel = bot(chat_server, channel_context)
    assert SlackConfig(type="slack", token=TOKEN, channel="#deployments").can_thread()

    result = await channel.send(FIRST)

    assert result.outcome is Outcome.SENT
    assert result.ref is not None and result.ref.conversation == FAKE_CHANNEL_ID and result.ref.id
    [posted] = chat_server.received_on(POST_MESSAGE)
    assert posted.json["channel"] == "#deployments" and "thread_ts" not in posted.json


async def test_a_bot_replies_in_the_thread_of_an_earlier_message(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    channel = bot(chat_server, channel_context)
    parent = (await channel.send(FIRST)).ref
    assert parent is not None

    reply = await channel.send(LATER, reply_to=parent)

    assert reply.outcome is Outcome.SENT
    assert reply.ref is not None and reply.ref != parent
    answer = chat_server.received_on(POST_MESSAGE)[1].json
    # in the conversation the first post answered (its ID, not the #name), under the parent's ts
    assert (answer["channel"], answer["thread_ts"], answer["text"]) == (FAKE_CHANNEL_ID, parent.id, LATER["text"])


async def test_a_bot_replaces_an_earlier_message_with_chat_update(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    channel = bot(chat_server, channel_context)
    first = (await channel.send(FIRST)).ref
    assert first is not None

    result = await channel.send(LATER, replace=first)

    assert (result.outcome, result.ref) == (Outcome.SENT, first)
    [update] = chat_server.received_on(UPDATE_MESSAGE)
    assert update.headers["Authorization"] == f"Bearer {TOKEN}"
    assert update.json == {
        "channel": first.conversation,
        "ts": first.id,
        "text": LATER["text"],
        "blocks": LATER["blocks"],
        # Named empty, so that Slack drops an attachment the earlier message had.
        "attachments": [],
    }
    assert len(chat_server.received_on(POST_MESSAGE)) == 1


async def test_an_edit_replaces_the_body_whether_it_sat_in_the_blocks_or_beside_the_colour_bar(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    """The fake keeps a field an update does not name, as Slack does: an edit must name both."""
    channel = bot(chat_server, channel_context)
    body = [{"type": "section", "text": {"type": "mrkdwn", "text": "old body"}}]
    older = await channel.send({"text": "run: waiting", "blocks": [HEADER, *body]})
    assert older.ref is not None
    coloured = {"text": "run: passed", "blocks": [HEADER], "attachments": [{"color": "#2eb67d", "blocks": NEW_BODY}]}

    await channel.send(coloured, replace=older.ref)
    [shown] = chat_server.messages.values()
    assert shown.fields["blocks"] == [HEADER] and shown.fields["attachments"] == coloured["attachments"]
    assert "old body" not in shown.shown and "new body" in shown.shown

    await channel.send({"text": "run: passed", "blocks": [HEADER, *body]}, replace=older.ref)
    assert shown.fields["attachments"] == [] and "new body" not in shown.shown


async def test_replacing_a_message_slack_does_not_know_is_dead(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    result = await bot(chat_server, channel_context).send(LATER, replace=MessageRef(FAKE_CHANNEL_ID, "1.000001"))

    assert (result.outcome, result.reason, result.ref) == (Outcome.DEAD, "message_not_found", None)
    # Gone, for whoever threads under it: Slack's codes for that stay in the Slack channel.
    assert result.gone


async def test_an_edit_slack_refuses_keeps_slacks_code(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    channel = bot(chat_server, channel_context)
    first = (await channel.send(FIRST)).ref
    chat_server.on(UPDATE_MESSAGE, Reply.api_error("edit_window_closed"))

    result = await channel.send(LATER, replace=first)

    assert (result.outcome, result.reason) == (Outcome.DEAD, "edit_window_closed")


@pytest.mark.parametrize(
    "config",
    [
        {"type": "slack", "webhook_url": "{url}/slack/services/T0/B0/hook"},
        {"type": "teams", "webhook_url": "{url}/teams/flow?sig=SIGSECRET0123456789"},
        {"type": "console"},
    ],
    ids=["slack-webhook", "teams", "console"],
)
@pytest.mark.parametrize(
    "ask", [{"reply_to": MessageRef("C1", "1.1")}, {"replace": MessageRef("C1", "1.1")}], ids=["reply", "replace"]
)
async def test_other_channels_say_they_cannot_and_send_nothing(
    chat_server: FakeChatServer,
    channel_context: ChannelContext,
    console_output,
    config: dict[str, str],
    ask: dict[str, MessageRef],
) -> None:
    raw = {key: value.format(url=chat_server.url) for key, value in config.items()}
    model = {"slack": SlackConfig, "teams": TeamsConfig, "console": ConsoleConfig}[raw["type"]]
    validated = model.model_validate(raw)
    channel = build_channel("other", validated, channel_context)
    assert not validated.can_thread()

    result = await channel.send("a follow-up", **ask)

    assert (result.outcome, result.reason) == (Outcome.DEAD, "unsupported")
    assert "Slack bot token" in result.detail
    assert chat_server.received == [] and console_output.getvalue() == ""
    assert (await channel.send("a new message")).outcome is Outcome.SENT

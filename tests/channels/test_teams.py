"""Teams: config rules, the legacy warning, and posting to the fake Workflows webhook."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from notifier.channels import build_channel, channel_format
from notifier.channels.base import ChannelContext, Outcome
from notifier.channels.teams import TeamsConfig, legacy_warning
from notifier.render import render
from notifier.templating import TemplateSet, load_samples_by_name
from tests.fakes import FakeChatServer, Reply, assert_no_secret
from tests.payload_checks import TEAMS_MAX_BYTES, assert_valid_adaptive_card

TEAMS_PATH = "/teams/workflows/6a1f0c3e9d2b4c/triggers/manual/paths/invoke"
TEAMS_SIG = "SigS3cretValue_0123456789abcdef"
TEAMS_QUERY = f"api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}"
WORKFLOWS_URL = (
    "https://prod-42.westeurope.logic.azure.com:443/workflows/6a1f0c3e9d2b4c/triggers/manual/paths/invoke"
    f"?{TEAMS_QUERY}"
)
CONNECTOR_URL = "https://contoso.webhook.office.com/webhookb2/0b1c@72f9/IncomingWebhook/ConnS3cretPart/77aa"
CARD = {
    "type": "message",
    "attachments": [
        {
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {"type": "AdaptiveCard", "version": "1.4", "body": [{"type": "TextBlock", "text": "hi"}]},
        }
    ],
}


def teams_config(server: FakeChatServer, **extra: object) -> TeamsConfig:
    return TeamsConfig.model_validate(
        {"type": "teams", "webhook_url": f"{server.url}{TEAMS_PATH}?{TEAMS_QUERY}", **extra}
    )


# -- config ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({}, "webhook_url\n  Field required"),
        ({"webhook_url": WORKFLOWS_URL.replace("https", "http", 1)}, "must use https"),
        ({"webhook_url": WORKFLOWS_URL, "format": "hero"}, "'adaptive', 'card' or 'messagecard'"),
        ({"webhook_url": WORKFLOWS_URL, "title": "x"}, "Extra inputs are not permitted"),
        ({"webhook_url": WORKFLOWS_URL, "timeout": 0}, "greater than 0"),
    ],
    ids=["no_url", "http_url", "unknown_format", "unknown_key", "zero_timeout"],
)
def test_invalid_configs_are_rejected_clearly(fields: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError) as raised:
        TeamsConfig.model_validate({"type": "teams", **fields})

    assert complaint in str(raised.value)
    assert_no_secret(str(raised.value), (TEAMS_SIG,))


def test_secrets_cover_the_sig_value_and_repr_hides_the_url() -> None:
    config = TeamsConfig(type="teams", webhook_url=WORKFLOWS_URL)

    assert TEAMS_SIG in config.secrets()
    assert_no_secret(repr(config), (TEAMS_SIG, WORKFLOWS_URL))


def test_default_rate_limit_stays_under_workflows_throttling() -> None:
    config = TeamsConfig(type="teams", webhook_url=WORKFLOWS_URL)
    assert config.rate_limit is not None
    assert config.rate_limit.per_second <= 4


@pytest.mark.parametrize(
    ("card_format", "renderer"), [("adaptive", "teams"), ("card", "teams-card"), ("messagecard", "messagecard")]
)
def test_the_card_format_picks_the_renderer(card_format: str, renderer: str, channel_context: ChannelContext) -> None:
    config = TeamsConfig.model_validate({"type": "teams", "webhook_url": WORKFLOWS_URL, "format": card_format})

    assert channel_format(config) == renderer
    assert build_channel("teams", config, channel_context).format == renderer


# -- the legacy warning ------------------------------------------------------------------------------------


def test_a_workflows_webhook_gets_no_warning() -> None:
    assert legacy_warning(TeamsConfig(type="teams", webhook_url=WORKFLOWS_URL)) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"webhook_url": CONNECTOR_URL},
        {"webhook_url": "https://outlook.office.com/webhook/0b1c@72f9/IncomingWebhook/ConnS3cretPart/77aa"},
        {"webhook_url": WORKFLOWS_URL, "format": "messagecard"},
    ],
    ids=["webhook.office.com", "outlook.office.com", "messagecard"],
)
def test_connectors_and_messagecards_get_the_legacy_warning(fields: dict[str, object]) -> None:
    warning = legacy_warning(TeamsConfig.model_validate({"type": "teams", **fields}))

    assert warning is not None
    assert "May 2026" in warning and "Workflows" in warning
    assert_no_secret(warning, ("ConnS3cretPart", TEAMS_SIG))


# -- sending -----------------------------------------------------------------------------------------------


async def test_posts_the_card_as_json_to_the_full_url(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    result = await build_channel("teams", teams_config(chat_server), channel_context).send(CARD)

    assert result.outcome is Outcome.SENT
    assert result.detail == "HTTP 202"
    [received] = chat_server.received_on(TEAMS_PATH)
    assert received.json == CARD
    assert received.query == TEAMS_QUERY
    assert received.headers["Content-Type"] == "application/json"


async def test_a_serialised_payload_is_posted_as_is(
    chat_server: FakeChatServer, channel_context: ChannelContext
) -> None:
    text = '{"type": "message", "attachments": []}'

    result = await build_channel("teams", teams_config(chat_server), channel_context).send(text)

    assert result.outcome is Outcome.SENT
    assert chat_server.received_on(TEAMS_PATH)[0].body == text.encode()


@pytest.mark.parametrize(
    "reply", [Reply(200, "1"), Reply(200, ""), Reply(202, ""), Reply(204, "")], ids=["200", "200-empty", "202", "204"]
)
async def test_any_2xx_is_sent(chat_server: FakeChatServer, channel_context: ChannelContext, reply: Reply) -> None:
    chat_server.on(TEAMS_PATH, reply)

    result = await build_channel("teams", teams_config(chat_server), channel_context).send(CARD)

    assert result.outcome is Outcome.SENT


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
async def test_client_errors_are_dead_with_the_status(
    chat_server: FakeChatServer, channel_context: ChannelContext, status: int
) -> None:
    body = '{"error":{"code":"TriggerInputSchemaMismatch","message":"The input body does not match"}}'
    chat_server.on(TEAMS_PATH, Reply(status, body))

    result = await build_channel("teams", teams_config(chat_server), channel_context).send(CARD)

    assert (result.outcome, result.reason) == (Outcome.DEAD, f"http_{status}")
    assert result.detail.startswith(f"HTTP {status}: ") and "TriggerInputSchemaMismatch" in result.detail


# -- Workflows hosts and the bare card ---------------------------------------------------------------------

POWER_PLATFORM_URL = (
    "https://default0a1b2c3d4e5f.0a.environment.api.powerplatform.com:443/powerautomate/automations/direct/"
    f"workflows/6a1f0c3e9d2b4c/triggers/manual/paths/invoke?{TEAMS_QUERY}"
)


@pytest.mark.parametrize("url", [WORKFLOWS_URL, POWER_PLATFORM_URL], ids=["logic.azure.com", "powerplatform.com"])
def test_workflows_urls_on_either_host_are_accepted_with_their_sig_secret(url: str) -> None:
    """Workflows moved its trigger URLs from *.logic.azure.com to *.powerplatform.com: no host is singled out."""
    config = TeamsConfig.model_validate({"type": "teams", "webhook_url": url, "format": "card"})
    assert config.webhook_url == url and legacy_warning(config) is None
    assert TEAMS_SIG in config.secrets()


@pytest.mark.parametrize("reply", [Reply(202, ""), Reply(200, "")], ids=["202", "200-empty"])
async def test_a_card_channel_posts_the_bare_adaptive_card(
    chat_server: FakeChatServer, channel_context: ChannelContext, reply: Reply
) -> None:
    """For a flow built on "Post card in a chat or channel", which posts the card it gets as it is."""
    chat_server.on(TEAMS_PATH, reply)
    channel = build_channel("teams", teams_config(chat_server, format="card"), channel_context)
    message = TemplateSet(None, "https://bridge.example.com").render(load_samples_by_name()["evaluation-finished-fail"])

    result = await channel.send(render(channel.format, message))

    assert result.outcome is Outcome.SENT
    [received] = chat_server.received_on(TEAMS_PATH)
    assert received.json["type"] == "AdaptiveCard" and "attachments" not in received.json
    assert_valid_adaptive_card(received.json)
    assert len(received.body) <= TEAMS_MAX_BYTES
    assert received.json == render("teams", message)["attachments"][0]["content"]

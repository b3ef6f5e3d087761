"""Issue 5, point 5: no credential ever leaves the process, whatever fails and whoever asks.

Every channel type is configured with recognisable secrets and made to fail in each way a network can:
connection refused, an unresolvable host, 500, 404 (with answers that echo the request back, as some proxies
do), and a redirect loop (aiohttp's TooManyRedirects quotes the full URL). Then everything the service and the
CLI print, and `/metrics`, is searched for the secrets.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml

from tests.fakes import FakeChatServer, Reply
from tests.helpers import Run, ServiceProcess, free_port, keptn_event, post_event, run_cli, write_event

# In every secret below, and nowhere else: any output that contains it has leaked a credential (or part of one).
MARK = "S3CR3T"
INGEST_TOKEN = f"ingest-{MARK}-token-0001"
FAILURES = ("refused", "dns", "500", "404", "redirect")
EVENTS = 2
# Enough scripted failures that no retry ever succeeds before the notification expires (a redirect loop takes
# eleven answers an attempt).
SCRIPTED = 2000


def channel_configs(fake: str, closed_port: int) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """A channel of each kind (webhook, bot, teams) for each failure, and every secret in them."""
    channels: dict[str, dict[str, Any]] = {}
    secrets = [INGEST_TOKEN]
    base = {
        "refused": f"http://127.0.0.1:{closed_port}",
        "dns": "http://chat-{kind}.invalid",
        "500": fake,
        "404": fake,
        "redirect": fake,
    }
    for failure in FAILURES:
        common = {"rate_limit": "off", "timeout": 3, "allow_insecure": failure == "dns"}
        webhook = f"{base[failure].format(kind='hook')}/slack/T{failure}{MARK}/B{failure}/hook{failure}{MARK}path"
        channels[f"hook-{failure}"] = {"type": "slack", "webhook_url": webhook, **common}
        token = f"xoxb-{failure}-{MARK}-bottoken"
        api = f"{base[failure].format(kind='api')}/bot{failure}/api/"
        channels[f"bot-{failure}"] = {"type": "slack", "token": token, "channel": "C0SECRETS", "api_url": api, **common}
        teams = (
            f"{base[failure].format(kind='teams')}/teams/wf{failure}{MARK}/invoke"
            f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sig=sig{failure}{MARK}value"
        )
        channels[f"teams-{failure}"] = {"type": "teams", "webhook_url": teams, **common}
        secrets += [webhook, urlsplit(webhook).path, token, teams, urlsplit(teams).path, f"sig{failure}{MARK}value"]
    return channels, secrets


def script_failures(chat: FakeChatServer, channels: Mapping[str, Mapping[str, Any]]) -> None:
    """500 and 404 answers that quote the request back: the URL path, the sig, the bearer token."""
    for failure in ("500", "404"):
        hook = channels[f"hook-{failure}"]["webhook_url"].removeprefix(chat.url)
        bot = channels[f"bot-{failure}"]
        teams = channels[f"teams-{failure}"]["webhook_url"].removeprefix(chat.url)
        status = int(failure)
        echo_hook = f"<html>{status} for POST {hook}</html>"
        chat.on(hook.split("?")[0], *[Reply(status=status, body=echo_hook)] * SCRIPTED)
        echo_token = f"upstream said no to Authorization: Bearer {bot['token']}"
        chat.on(f"/bot{failure}/api/chat.postMessage", *[Reply(status=status, body=echo_token)] * SCRIPTED)
        echo_teams = json.dumps({"error": {"code": "Failed", "message": f"The request to {teams} failed"}})
        chat.on(teams.split("?")[0], *[Reply(status=status, body=echo_teams)] * SCRIPTED)
    for name in ("hook-redirect", "bot-redirect", "teams-redirect"):
        url = channels[name].get("webhook_url") or channels[name]["api_url"] + "chat.postMessage"
        target = url.removeprefix(chat.url)
        chat.on(target.split("?")[0], *[Reply(status=307, body="", headers={"Location": target})] * SCRIPTED)


def leaks(text: str, secrets: list[str]) -> list[str]:
    found = [secret[:12] + "…" for secret in secrets if secret in text]
    if MARK in text:
        index = text.index(MARK)
        found.append(f"…{text[max(0, index - 60) : index + 30]}…")
    return found


async def scrape(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200
        return await response.text()


async def test_no_credential_reaches_logs_metrics_cli_output_or_errors(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    channels, secrets = channel_configs(chat_server.url, free_port())
    script_failures(chat_server, channels)
    config = {
        "channels": channels,
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": list(channels)}],
        "settings": {"retry_initial_backoff": "0.05s", "retry_max_backoff": "0.2s", "retry_max_age": "1s"},
    }
    env = {"LOG_LEVEL": "debug", "NOTIFIER_INGEST_TOKEN": INGEST_TOKEN}
    service = ServiceProcess(config, tmp_path, env=env)
    state = tmp_path / "state"
    outputs: dict[str, str] = {}
    runs: list[tuple[str, Run]] = []

    async def cli(*args: str | Path) -> Run:
        run = await run_cli(*args, env=env)
        runs.append((" ".join(map(str, args)), run))
        return run

    service.start()
    try:
        for index in range(EVENTS):
            assert await post_event(service.url, keptn_event(f"leak-{index}"), token=INGEST_TOKEN) == 202
        # An event nobody wants: logged at debug level only.
        ignored = keptn_event("leak-ignored", "sh.keptn.event.deployment.started")
        assert await post_event(service.url, ignored, token=INGEST_TOKEN) == 202
        # A wrong token and no token: refused, and the refusal must not quote either.
        assert await post_event(service.url, keptn_event("leak-x"), token=f"wrong-{MARK}-guess") == 401
        assert await post_event(service.url, keptn_event("leak-y")) == 401

        deadline = time.monotonic() + 60
        while True:
            listing = await cli("dead", "list", "--json", "--state-dir", state, "--config", service.config_path)
            assert listing.code == 0, listing
            if len(listing.stdout.splitlines()) == EVENTS * len(channels):
                break
            assert time.monotonic() < deadline, f"not everything is dead yet:\n{listing.stdout}"
            await asyncio.sleep(0.1)
        parked = [json.loads(line) for line in listing.stdout.splitlines()]
        reasons = {letter["channel"]: letter["reason"].split(":")[0] for letter in parked}
        # Each failure was really exercised: refused and unresolvable hosts and 500s retried until expiry.
        for kind in ("hook", "bot", "teams"):
            for failure in ("refused", "dns", "500", "redirect"):
                if (kind, failure) == ("teams", "redirect"):
                    continue
                assert reasons[f"{kind}-{failure}"] == "expired", reasons
        # The Teams channel does not follow redirects (a message goes only where the config says): parked at once.
        assert reasons["teams-redirect"] == "http_307", reasons
        assert reasons["hook-404"] == reasons["bot-404"] == reasons["teams-404"] == "http_404", reasons

        outputs["/metrics"] = await scrape(service.url + "/metrics")
        assert "keptn_notifier_notifications_dead_total" in outputs["/metrics"]
        await cli("dead", "list", "--state-dir", state, "--config", service.config_path)
    finally:
        service.terminate()
        service.close()
    outputs["service stdout"] = service.stdout()
    outputs["service stderr"] = service.stderr()
    assert '"logLevel":"DEBUG"' in outputs["service stderr"], "the service did not log at debug level"

    event_file = write_event(tmp_path / "event.json", keptn_event("leak-cli"))
    await cli("check", "--config", service.config_path)
    await cli("routes", event_file, "--config", service.config_path)
    await cli("render", event_file, "--config", service.config_path, "--channel", "teams-500")
    for name in channels:
        sent = await cli("send-test", name, "--config", service.config_path)
        assert sent.code == 1 and sent.stdout.startswith(f"{name}: "), sent
    replay_state = tmp_path / "replay-state"
    await cli("replay", event_file, "--config", service.config_path, "--state-dir", replay_state, "--timeout", "20s")
    await cli("dead", "list", "--state-dir", replay_state, "--config", service.config_path)
    await cli("dead", "retry", "--all", "--state-dir", replay_state, "--config", service.config_path)

    for command, run in runs:
        assert "Traceback" not in run.stderr, f"{command}:\n{run}"
        outputs[f"`{command}` stdout"] = run.stdout
        outputs[f"`{command}` stderr"] = run.stderr
    found = {where: leaks(text, secrets) for where, text in outputs.items()}
    assert not any(found.values()), "credentials leaked:\n" + "\n".join(
        f"{where}: {items}" for where, items in found.items() if items
    )


@pytest.mark.parametrize(
    "channel",
    [
        {"type": "slack", "token": f"xoxb-{MARK} with-a-space"},
        {"type": "slack", "webhook_url": f"http://chat.example.com/slack/{MARK}"},
        {"type": "slack", "webhook_url": f"https://hooks.example.com/slack/{MARK}", "channel": "#x"},
        {"type": "slack", "webhook_url": f"ftp://hooks.example.com/{MARK}"},
        {"type": "teams", "webhook_url": f"http://teams.example.com/wf?sig={MARK}sig"},
        {"type": "teams", "webhook_url": f"https://teams.example.com/wf?sig={MARK}sig", "format": "adaptivecard"},
        {"type": "teams", "webhook_url": f"https://teams.example.com/wf?sig={MARK}sig", "extra": f"{MARK}"},
        {"type": "teams", "webhook_url": f"https://teams.example.com:99999/wf?sig={MARK}sig"},
    ],
    ids=[
        "token-with-space",
        "insecure-webhook",
        "webhook-with-channel",
        "ftp-webhook",
        "insecure-teams",
        "bad-format",
        "unknown-key",
        "port-out-of-range",
    ],
)
async def test_config_errors_do_not_quote_the_credential(tmp_path: Path, channel: dict[str, Any]) -> None:
    config = tmp_path / "notifier.yaml"
    config.write_text(yaml.safe_dump({"channels": {"c": channel}, "routes": [{"name": "r", "channels": ["c"]}]}))
    for args in (("check",), ("send-test", "c"), ("serve", "--port", "0", "--state-dir", str(tmp_path / "s"))):
        run = await run_cli(*args, "--config", config, timeout=30)
        assert run.code == 2, run
        assert str(config) in run.stderr and "Traceback" not in run.stderr, run
        assert MARK not in run.stdout + run.stderr, f"{args[0]} quoted the credential:\n{run}"


@pytest.mark.parametrize(
    "variables",
    [
        {"SLACK_WEBHOOK_URL": f"http://chat.example.com/slack/{MARK}"},
        {"SLACK_BOT_TOKEN": f"not-a-token-{MARK}", "SLACK_CHANNEL": "#x"},
        {"SLACK_BOT_TOKEN": f"xoxb-{MARK}"},
        {"TEAMS_WEBHOOK_URL": f"ftp://teams.example.com/wf?sig={MARK}sig"},
    ],
    ids=["insecure-webhook", "bad-token", "token-without-channel", "ftp-teams"],
)
async def test_environment_errors_do_not_quote_the_credential(variables: dict[str, str]) -> None:
    run = await run_cli("check", env=variables)
    assert run.code == 2 and "Traceback" not in run.stderr, run
    assert MARK not in run.stdout + run.stderr, run

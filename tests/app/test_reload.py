"""Live reload over loopback, with the fake Slack and Teams: by `POST /-/reload`, by SIGHUP (a `serve` subprocess)
and by a ConfigMap-style `..data` symlink swap. A good change applies to the next event, a bad one keeps the
config in force, a removed channel's queue becomes dead letters that `dead retry` brings back, and settings that
need a restart are named while the rest applies."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from notifier.app import reload
from notifier.redact import MASK
from tests.fakes import FakeChatServer
from tests.helpers import (
    RunningService,
    ServiceProcess,
    dead_letters,
    keptn_event,
    post_event,
    run_cli,
    running_service,
    slack_hook,
)

TOKEN = "reload-token-0123456789"
ADMIN = {"NOTIFIER_ADMIN_TOKEN": TOKEN}
GATE_TEMPLATE = "sh.keptn.event.evaluation.finished.yaml"
SUCCESSFUL = "keptn_notifier_config_last_reload_successful"
SUCCESS_TIME = "keptn_notifier_config_last_reload_success_timestamp_seconds"


@pytest.fixture(autouse=True)
def no_file_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file watch would reload a test's edit on its own before the test asks: only the test that watches
    files shortens the interval."""
    monkeypatch.setattr(reload, "WATCH_INTERVAL", 3600.0)


def hooks(chat: FakeChatServer, *names: str, to: tuple[str, ...] = ()) -> dict[str, Any]:
    """Slack webhook channels `names` (each on /slack/<name>), and one route that sends everything to `to`."""
    return {
        "channels": {name: slack_hook(chat.url, name) for name in names},
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": list(to or names)}],
    }


def rewrite(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit the service's config file as an operator would: read it, change it, write it back."""
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


async def post_reload(svc: RunningService, token: str | None = TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with svc.session.post(svc.admin_url + "/-/reload", headers=headers) as response:
        return response.status, await response.json()


async def config_hashes(svc: RunningService) -> list[str]:
    _, text = await svc.get("/metrics")
    return re.findall(r'^keptn_notifier_config_info\{hash="([0-9a-f]{64})"\} 1\.0$', text, re.MULTILINE)


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20) -> None:
    """A bounded poll: fails naming `what` when `check` does not hold within `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        await asyncio.sleep(0.05)


def shown(chat: FakeChatServer, path: str) -> list[str]:
    return [orjson.dumps(item.json).decode() for item in chat.received_on(path)]


async def test_a_good_change_by_http_applies_to_the_next_event(tmp_path: Path, chat_server: FakeChatServer) -> None:
    async with running_service(tmp_path, hooks(chat_server, "old"), env=ADMIN) as svc:
        assert await svc.metric(SUCCESSFUL) == 1
        started_hash = await config_hashes(svc)
        assert len(started_hash) == 1
        assert await svc.post(keptn_event("before")) is not None
        await chat_server.wait_for(1, "/slack/old")

        config = tmp_path / "notifier.yaml"
        first = config.read_text()
        rewrite(config, lambda doc: doc.update(hooks(chat_server, "old", "new", to=("new",))))
        status, answer = await post_reload(svc)
        assert (status, answer["status"]) == (200, "reloaded"), answer
        assert answer["channels"] == {"added": ["new"], "removed": [], "changed": []}, answer
        # The new channel's webhook is a secret the logs mask from now on.
        assert svc.service.redactor(f"posting to {chat_server.url}/slack/new") == f"posting to {MASK}"

        await svc.post(keptn_event("after"))
        await chat_server.wait_for(1, "/slack/new")
        assert "ctx-after" in shown(chat_server, "/slack/new")[0]
        assert len(chat_server.received_on("/slack/old")) == 1, "the old route still took the event"
        assert await svc.metric(SUCCESSFUL) == 1
        assert await svc.metric(SUCCESS_TIME) > 0
        reloaded_hash = await config_hashes(svc)
        assert len(reloaded_hash) == 1 and reloaded_hash != started_hash, "only the hash in force is exported"

        # The hash is of the contents: the first file again is the first hash again.
        config.write_text(first)
        assert (await post_reload(svc))[0] == 200
        assert await config_hashes(svc) == started_hash
        assert (await svc.get("/ready"))[0] == 200


async def test_reload_over_http_needs_the_admin_token(tmp_path: Path, chat_server: FakeChatServer) -> None:
    for folder in ("off", "on"):
        (tmp_path / folder).mkdir()
    async with running_service(tmp_path / "off", hooks(chat_server, "hook")) as svc:
        status, answer = await post_reload(svc)
        assert status == 403 and "NOTIFIER_ADMIN_TOKEN" in answer["error"], answer
        assert "Bearer" in answer["error"], "the answer says how to enable it"
    async with running_service(tmp_path / "on", hooks(chat_server, "hook"), env=ADMIN) as svc:
        before = await config_hashes(svc)
        rewrite(tmp_path / "on" / "notifier.yaml", lambda doc: doc.update(hooks(chat_server, "other")))
        for token in (None, "wrong-token-0123456789", TOKEN.upper()):
            status, answer = await post_reload(svc, token)
            assert status == 401 and "Authorization: Bearer" in answer["error"], (token, answer)
        assert await config_hashes(svc) == before, "a refused reload changed the config"
        assert list(svc.service.config.channels) == ["hook"]


def yaml_error(config: Path, templates: Path) -> str:
    config.write_text(config.read_text() + "routes: [\n")
    return f"{config} at line "


def template_error(config: Path, templates: Path) -> str:
    (templates / GATE_TEMPLATE).write_text('title: "gate"\ntext: "{{ project "\n')
    return f"{templates / GATE_TEMPLATE} line 2"


def unknown_template(config: Path, templates: Path) -> str:
    rewrite(config, lambda doc: doc["routes"][0].update(template="quality-gaet"))
    return f"{config}: route all: template 'quality-gaet' does not exist"


def template_that_fails_to_render(config: Path, templates: Path) -> str:
    (templates / GATE_TEMPLATE).write_text('title: "{{ data.project.no_such_call() }}"\n')
    return f"{templates / GATE_TEMPLATE}: fails for a sh.keptn.event.evaluation.finished event"


@pytest.mark.parametrize("break_it", [yaml_error, template_error, unknown_template, template_that_fails_to_render])
async def test_a_bad_change_keeps_the_config_in_force_and_names_the_error(
    tmp_path: Path,
    chat_server: FakeChatServer,
    caplog: pytest.LogCaptureFixture,
    break_it: Callable[[Path, Path], str],
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / GATE_TEMPLATE).write_text('title: "gate v1"\n')
    config = {**hooks(chat_server, "hook"), "settings": {"templates_dir": str(templates)}}
    async with running_service(tmp_path, config, env=ADMIN) as svc:
        path = tmp_path / "notifier.yaml"
        good = path.read_text()
        before = await config_hashes(svc)
        named = break_it(path, templates)
        with caplog.at_level(logging.ERROR, "notifier.reload"):
            status, answer = await post_reload(svc)
        assert (status, answer["status"]) == (500, "failed"), answer
        assert named in answer["error"], answer
        failures = [record for record in caplog.records if record.name == "notifier.reload"]
        assert len(failures) == 1 and named in failures[0].getMessage(), caplog.text
        assert await svc.metric(SUCCESSFUL) == 0
        assert await config_hashes(svc) == before
        assert (await svc.get("/ready"))[0] == 200

        await svc.post(keptn_event("still"))
        await chat_server.wait_for(1, "/slack/hook")
        assert '"gate v1"' in shown(chat_server, "/slack/hook")[0], "the templates in force changed"

        path.write_text(good)
        (templates / GATE_TEMPLATE).write_text('title: "gate v2"\n')
        assert (await post_reload(svc))[0] == 200
        assert await svc.metric(SUCCESSFUL) == 1
        await svc.post(keptn_event("fixed"))
        await chat_server.wait_for(2, "/slack/hook")
        assert '"gate v2"' in shown(chat_server, "/slack/hook")[1]


async def test_queued_notifications_render_with_the_templates_in_force_when_sent(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / GATE_TEMPLATE).write_text('title: "gate v1"\ntext: "{{ keptn_context }}"\n')
    config = hooks(chat_server, "hook")
    # Paced: one send at a time, so the second notification waits in the queue while the first is in flight.
    config["channels"]["hook"]["rate_limit"] = {"per_second": 100, "burst": 100}
    config["settings"] = {"templates_dir": str(templates)}
    released = chat_server.hold("/slack/hook")
    async with running_service(tmp_path, config, env=ADMIN) as svc:
        await svc.post(keptn_event("first"))
        await chat_server.wait_for(1, "/slack/hook")
        await svc.post(keptn_event("queued"))
        (templates / GATE_TEMPLATE).write_text('title: "gate v2"\ntext: "{{ keptn_context }}"\n')
        assert (await post_reload(svc))[0] == 200
        released.set()
        await chat_server.wait_for(2, "/slack/hook")
        first, queued = shown(chat_server, "/slack/hook")
    assert "ctx-first" in first and '"gate v1"' in first, "rendered before the reload, sent as it was"
    assert "ctx-queued" in queued and '"gate v2"' in queued and "gate v1" not in queued


async def test_a_removed_channel_keeps_its_queue_as_dead_letters_that_dead_retry_brings_back(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    config = hooks(chat_server, "hook", "teams")
    config["channels"]["hook"]["rate_limit"] = {"per_second": 100, "burst": 100}
    config["settings"] = {"shutdown_grace": "60s"}
    path = tmp_path / "notifier.yaml"
    state = tmp_path / "state"
    released = chat_server.hold("/slack/hook")
    async with running_service(tmp_path, config, env=ADMIN) as svc:
        await svc.post(keptn_event("in-flight"))
        await chat_server.wait_for(1, "/slack/hook")
        await svc.post(keptn_event("queued"))
        await chat_server.wait_for(2, "/slack/teams")

        rewrite(path, lambda doc: doc.update(hooks(chat_server, "teams")))
        reloading = asyncio.create_task(post_reload(svc))

        async def applying() -> bool:
            return "hook" not in svc.service.config.channels

        await until(applying, "the reload to apply")
        # The removed channel's send in flight holds the reload up; the service stays ready meanwhile.
        assert not reloading.done()
        assert (await svc.get("/ready"))[0] == 200
        released.set()
        status, answer = await reloading
        assert (status, answer["channels"]["removed"]) == (200, ["hook"]), answer

        async def parked() -> bool:
            return len(await dead_letters(state)) == 1

        await until(parked, "the queued notification to be parked")
        [letter] = await dead_letters(state)
        assert (letter["channel"], letter["reason"]) == ("hook", "channel no longer configured"), letter
        assert await svc.metric("keptn_notifier_notifications_dead_total", reason="channel_removed") == 1

        # Configured again, and retried: sent once, where it was going.
        path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **hooks(chat_server, "hook", "teams")}))
        status, answer = await post_reload(svc)
        assert (status, answer["channels"]["added"]) == (200, ["hook"]), answer
        retried = await run_cli("dead", "retry", "--all", "--state-dir", state)
        assert retried.stdout.strip() == "queued 1 notification(s) again", retried
        await chat_server.wait_for(2, "/slack/hook")
        await svc.post(keptn_event("later"))
        await chat_server.wait_for(3, "/slack/hook")
    sent = shown(chat_server, "/slack/hook")
    assert [sum(f"ctx-{name}" in one for one in sent) for name in ("in-flight", "queued", "later")] == [1, 1, 1]
    assert len(chat_server.received_on("/slack/teams")) == 3


async def test_settings_that_need_a_restart_are_named_and_the_rest_applies(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    async with running_service(tmp_path, hooks(chat_server, "old"), env=ADMIN) as svc:
        path = tmp_path / "notifier.yaml"

        def change(doc: dict[str, Any]) -> None:
            doc.update(hooks(chat_server, "new"))
            doc["settings"].update(dedup_window="2h", admin_port=0, bridge_url="https://keptn.example.com/bridge")

        rewrite(path, change)
        status, answer = await post_reload(svc)
        assert (status, answer["status"]) == (500, "restart needed"), answer
        needs = ["admin_port (NOTIFIER_ADMIN_PORT)", "dedup_window (NOTIFIER_DEDUP_WINDOW)"]
        assert answer["restartNeeded"] == needs and all(one in answer["error"] for one in needs), answer
        assert await svc.metric(SUCCESSFUL) == 0
        await svc.post(keptn_event("applied"))
        await chat_server.wait_for(1, "/slack/new")
        assert "https://keptn.example.com/bridge" in shown(chat_server, "/slack/new")[0], "bridge_url applies live"

        # Until a restart, or a reload that puts them back.
        rewrite(path, lambda doc: [doc["settings"].pop(key) for key in ("dedup_window", "admin_port")])
        assert (await post_reload(svc))[0] == 200
        assert await svc.metric(SUCCESSFUL) == 1


def configmap(folder: Path, files: dict[str, str], stamp: str) -> None:
    """Write `files` as the kubelet updates a mounted ConfigMap: a new timestamped folder, then the `..data`
    symlink swapped to it in one rename, each visible file a symlink through `..data`."""
    folder.mkdir(exist_ok=True)
    fresh = folder / f"..2026_12_06_10_00_{stamp}.000000001"
    fresh.mkdir()
    for name, text in files.items():
        (fresh / name).write_text(text)
        link = folder / name
        if not link.is_symlink():
            link.symlink_to(Path("..data") / name)
    old = os.readlink(folder / "..data") if (folder / "..data").is_symlink() else None
    (folder / "..data_tmp").symlink_to(fresh.name)
    os.replace(folder / "..data_tmp", folder / "..data")
    if old is not None:
        for leftover in (folder / old).iterdir():
            leftover.unlink()
        (folder / old).rmdir()


async def test_a_configmap_symlink_swap_is_seen_and_applied(
    tmp_path: Path, chat_server: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reload, "WATCH_INTERVAL", 0.1)
    templates = tmp_path / "templates"
    configmap(templates, {GATE_TEMPLATE: 'title: "gate v1"\n'}, "00")
    # The config file goes into a ConfigMap-style folder too: running_service writes it through the symlink.
    volume = tmp_path / "config"
    configmap(volume, {"notifier.yaml": ""}, "00")
    (tmp_path / "notifier.yaml").symlink_to(volume / "notifier.yaml")
    config = {**hooks(chat_server, "old"), "settings": {"templates_dir": str(templates)}}
    async with running_service(tmp_path, config) as svc:
        first = await config_hashes(svc)

        async def hash_changed() -> bool:
            hashes = await config_hashes(svc)
            return bool(hashes) and hashes != first

        configmap(templates, {GATE_TEMPLATE: 'title: "gate v2"\n'}, "01")
        await until(hash_changed, "the template swap to be reloaded")
        await svc.post(keptn_event("templates"))
        await chat_server.wait_for(1, "/slack/old")
        assert '"gate v2"' in shown(chat_server, "/slack/old")[0]

        first = await config_hashes(svc)
        document = yaml.safe_load((volume / "notifier.yaml").read_text())
        configmap(volume, {"notifier.yaml": yaml.safe_dump({**document, **hooks(chat_server, "new")})}, "01")
        await until(hash_changed, "the config swap to be reloaded")
        await svc.post(keptn_event("config"))
        await chat_server.wait_for(1, "/slack/new")
        assert len(chat_server.received_on("/slack/old")) == 1
        assert await svc.metric(SUCCESSFUL) == 1


async def test_sighup_reloads_a_serving_process(tmp_path: Path, chat_server: FakeChatServer) -> None:
    service = ServiceProcess(hooks(chat_server, "old"), tmp_path, env={"LOG_LEVEL": "info"})
    service.start()
    try:
        assert await post_event(service.url, keptn_event("before")) == 202
        await chat_server.wait_for(1, "/slack/old")
        rewrite(service.config_path, lambda doc: doc.update(hooks(chat_server, "new")))
        assert service.proc is not None
        service.proc.send_signal(signal.SIGHUP)

        async def reloaded() -> bool:
            return "config reloaded (SIGHUP)" in service.stderr()

        await until(reloaded, "the SIGHUP reload")
        assert await post_event(service.url, keptn_event("after")) == 202
        await chat_server.wait_for(1, "/slack/new")
        assert service.terminate() == 0, service.stderr()
    finally:
        service.close()
    assert len(chat_server.received_on("/slack/old")) == 1

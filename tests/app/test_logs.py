"""The real service's stderr: one JSON object a line in Keptn's log shape, at the level LOG_LEVEL asks for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeChatServer, Reply
from tests.helpers import ServiceProcess, cli_env, keptn_event, post_event

KEPTN_KEYS = ("keptnContext", "logLevel", "keptnService", "message")
LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
HOOK = "/slack/T0/B0/logs"


def service_config(chat: FakeChatServer) -> dict[str, Any]:
    return {
        "channels": {"hook": {"type": "slack", "webhook_url": f"{chat.url}{HOOK}", "rate_limit": "off"}},
        "routes": [{"name": "all", "match": {"types": ["sh.keptn.>"]}, "channels": ["hook"]}],
        "settings": {"retry_initial_backoff": "0.05s"},
    }


def keptn_log_lines(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line parsed, failing on the first one that is not a Keptn-shaped JSON object."""
    lines = []
    for number, line in enumerate(stderr.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"stderr line {number} is not JSON: {line!r}") from None
        assert isinstance(record, dict), f"stderr line {number} is not an object: {line!r}"
        missing = [key for key in KEPTN_KEYS if key not in record]
        assert not missing, f"stderr line {number} lacks {missing}: {line!r}"
        assert record["keptnService"] == "keptn-notifier", line
        assert record["logLevel"] in LEVELS, line
        assert isinstance(record["keptnContext"], str), line
        assert isinstance(record["message"], str) and record["message"], line
        lines.append(record)
    return lines


async def run_service(
    tmp_path: Path, chat: FakeChatServer, level: str, *events: dict[str, Any], requests: int = 1
) -> str:
    """Start the service with LOG_LEVEL=level, post the events, wait for `requests` sends, stop it cleanly."""
    service = ServiceProcess(service_config(chat), tmp_path, env={**cli_env(), "LOG_LEVEL": level})
    service.start()
    try:
        for event in events:
            assert await post_event(service.url, event) == 202
        await chat.wait_for(requests, HOOK, timeout=20)
        assert service.terminate() == 0, service.stderr()
    finally:
        service.close()
    return service.stderr()


@pytest.mark.parametrize("level", ["DEBUG", "debug"])
async def test_every_stderr_line_is_a_keptn_json_log_line(
    tmp_path: Path, chat_server: FakeChatServer, level: str
) -> None:
    accepted = keptn_event("log-1")
    ignored = keptn_event("log-2", "sh.keptn.event.deployment.started")
    records = keptn_log_lines(await run_service(tmp_path, chat_server, level, accepted, ignored))
    assert {"DEBUG", "INFO"} <= {record["logLevel"] for record in records}, records
    accepted_lines = [r for r in records if r["logLevel"] == "INFO" and r["message"].startswith("accepted ")]
    assert [r["keptnContext"] for r in accepted_lines] == ["ctx-log-1"], records
    ignored_lines = [r for r in records if r["logLevel"] == "DEBUG" and r["message"].startswith("ignored ")]
    assert [r["keptnContext"] for r in ignored_lines] == ["ctx-log-2"], records


@pytest.mark.parametrize("level", ["WARNING", "warning", "Warn"])
async def test_a_higher_level_keeps_only_warnings_and_errors(
    tmp_path: Path, chat_server: FakeChatServer, level: str
) -> None:
    chat_server.on(HOOK, Reply.server_error(503, "try later"))
    # The first send fails and is logged; the retry is delivered.
    records = keptn_log_lines(await run_service(tmp_path, chat_server, level, keptn_event("log-3"), requests=2))
    assert records, "the failed send was not logged"
    assert {record["logLevel"] for record in records} <= {"WARNING", "ERROR", "CRITICAL"}, records
    assert any("server_error" in record["message"] for record in records), records


async def test_an_unknown_log_level_stops_start_up_with_a_message(tmp_path: Path, chat_server: FakeChatServer) -> None:
    service = ServiceProcess(service_config(chat_server), tmp_path, env={**cli_env(), "LOG_LEVEL": "chatty"})
    with pytest.raises(RuntimeError, match="exited with 2") as failure:
        service.start()
    service.close()
    assert "LOG_LEVEL" in str(failure.value) and "Traceback" not in service.stderr()

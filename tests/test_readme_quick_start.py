"""The README's quick start as a newcomer types it: its curl commands, run by the shell against the service."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

from tests.helpers import MESSAGE_START, REPO, RunningService, running_service

QUICK_START_URL = "localhost:8080/"
CONSOLE_ONLY = {"channels": {"console": {"type": "console"}}, "routes": [{"name": "default", "channels": ["console"]}]}


def readme_curl_commands() -> tuple[str, str]:
    """The README's two ways to send the sample event: as the file is, and with a new id each time."""
    blocks = re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    commands = [block.strip() for block in blocks if f"curl -s -XPOST {QUICK_START_URL}" in block]
    as_is = [command for command in commands if "-d @notifier/samples/" in command]
    new_id = [command for command in commands if "-d @-" in command]
    assert len(as_is) == 1 and len(new_id) == 1, commands
    return as_is[0], new_id[0]


async def shell(command: str, service: RunningService) -> dict[str, Any]:
    """Run a README command in the repository folder, aimed at the test's service; its JSON answer."""
    aimed = command.replace(QUICK_START_URL, service.url.removeprefix("http://") + "/")
    process = await asyncio.create_subprocess_exec(
        "bash", "-c", aimed, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    answer: dict[str, Any] = json.loads(out)
    return answer


async def delivered(service: RunningService) -> int:
    """The messages the console printed, once nothing is left to send (a bounded wait)."""
    deadline = time.monotonic() + 20
    while any(channel.pending for channel in (await service.service.store.stats()).values()):
        assert time.monotonic() < deadline, "the outbox did not drain"
        await asyncio.sleep(0.05)
    return len(MESSAGE_START.findall(service.stdout.getvalue()))


async def test_the_curl_sent_twice_is_a_duplicate_and_the_one_liner_sends_a_new_event_each_time(
    tmp_path: Path,
) -> None:
    as_is, new_id = readme_curl_commands()
    async with running_service(tmp_path, CONSOLE_ONLY) as service:
        assert await shell(as_is, service) == {"accepted": 1, "ignored": 0, "duplicates": 0}
        assert await shell(as_is, service) == {"accepted": 0, "ignored": 0, "duplicates": 1}
        assert await delivered(service) == 1

        assert await shell(new_id, service) == {"accepted": 1, "ignored": 0, "duplicates": 0}
        assert await shell(new_id, service) == {"accepted": 1, "ignored": 0, "duplicates": 0}
        assert await delivered(service) == 3

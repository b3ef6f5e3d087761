"""Intake errors say exactly what is wrong: the one missing binary-mode header, the batch event counted from 1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from notifier.intake.cloudevents import parse_request
from notifier.keptn.events import EventError
from tests.helpers import Cli, in_process_cli, keptn_event, running_service

CONFIG = {"channels": {"log": {"type": "console"}}, "routes": [{"name": "all", "channels": ["log"]}]}


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    yield from in_process_cli(capsys, monkeypatch)


def binary_headers(event: dict[str, object], *without: str) -> dict[str, str]:
    headers = {f"ce-{key}": str(value) for key, value in event.items() if key != "data" and key not in without}
    return {"Content-Type": "application/json", **headers}


async def test_a_binary_event_missing_only_ce_id_is_told_exactly_that(tmp_path: Path) -> None:
    event = keptn_event("bin-1")
    async with running_service(tmp_path, CONFIG) as svc:
        status, body = await svc.post_json(event["data"], "application/json", **binary_headers(event, "id"))
    assert status == 400, body
    message = body["error"]
    assert message.startswith("binary-mode event lacks the header ce-id:"), message
    # Only ce-id is missing: the other attributes must not be reported as missing.
    assert "lacks the headers" not in message and "CloudEvents attribute" not in message, message


@pytest.mark.parametrize(
    ("without", "empty", "expected"),
    [
        (("source", "type"), (), "lacks the headers ce-source, ce-type:"),
        ((), ("ce-id",), "has an empty ce-id header:"),
        (("specversion",), ("ce-id",), "lacks the header ce-specversion and has an empty ce-id header:"),
    ],
)
def test_binary_mode_names_each_missing_or_empty_header(
    without: tuple[str, ...], empty: tuple[str, ...], expected: str
) -> None:
    headers = {**binary_headers(keptn_event(), *without), **dict.fromkeys(empty, "")}
    with pytest.raises(EventError) as caught:
        parse_request("application/json", headers, b"{}", 10)
    assert expected in str(caught.value), caught.value


async def test_a_bad_event_in_a_batch_is_counted_from_one(tmp_path: Path) -> None:
    batch = [keptn_event("b-1"), {k: v for k, v in keptn_event("b-2").items() if k != "source"}, keptn_event("b-3")]
    async with running_service(tmp_path, CONFIG) as svc:
        status, body = await svc.post_json(batch, "application/cloudevents-batch+json")
        assert status == 400, body
        assert body["error"].startswith("event #2 of the batch lacks the CloudEvents attribute(s) source"), body
        status, body = await svc.post_json([keptn_event("b-4"), 7], "application/cloudevents-batch+json")
    assert (status, body["error"]) == (400, "event #2 of the batch must be a JSON object, got int")


def test_an_event_file_with_a_bad_event_names_it_counted_from_one(cli: Cli, tmp_path: Path) -> None:
    events = tmp_path / "events.json"
    events.write_bytes(orjson.dumps([keptn_event("f-1"), {**keptn_event("f-2"), "id": ""}]))
    run = cli("replay", events)
    assert run.code == 2, run
    assert run.stderr.startswith(f"keptn-notifier: {events} #2 lacks the CloudEvents attribute(s) id"), run

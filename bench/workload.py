"""What the load generator sends, and the marker that lets the sink time each delivery end to end.

The marker `bkctx-<seq>-<send time in monotonic ns>` travels in `shkeptncontext`, which the service's
evaluation template prints in the message footer, so it reaches the sink inside the Slack payload. The floor
forwards a fixed body and copies the `X-Bench-Id` header instead. CLOCK_MONOTONIC is one clock for every
process on Linux, so the sink can subtract the load generator's send time from its own arrival time.
"""

from __future__ import annotations

import re

import orjson

MARKER_HEADER = "X-Bench-Id"
MARKER_PATTERN = re.compile(rb"bkctx-(\d+)-(\d+)")
_ID_SLOT = "@@ID@@"
_MARKER_SLOT = "@@MARKER@@"


def marker(seq: int, sent_ns: int) -> str:
    return f"bkctx-{seq}-{sent_ns}"


def parse_marker(text: bytes) -> tuple[int, int] | None:
    """(seq, send time in ns) from the first marker in `text`, or None."""
    found = MARKER_PATTERN.search(text)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2))


def _indicator(name: str, metric: str, value: float, compared: float, status: str, criteria: str) -> dict[str, object]:
    failed = status == "fail"
    return {
        "score": 0 if failed else 1,
        "status": status,
        "displayName": name,
        "keySli": metric == "response_time_p95",
        "value": {"metric": metric, "value": value, "comparedValue": compared, "success": True, "message": ""},
        "passTargets": [{"criteria": criteria, "targetValue": 0, "violated": failed}],
        "warningTargets": [],
    }


def _evaluation_event() -> dict[str, object]:
    """A failed quality gate as lighthouse-service sends it: about 1.5 KB of compact JSON."""
    return {
        "specversion": "1.0",
        "id": _ID_SLOT,
        "source": "lighthouse-service",
        "type": "sh.keptn.event.evaluation.finished",
        "time": "2026-11-20T14:07:52.118Z",
        "datacontenttype": "application/json",
        "shkeptncontext": _MARKER_SLOT,
        "triggeredid": "b04b7e2d-3f55-4c1d-8f7b-6a9c8d0e1f22",
        "shkeptnspecversion": "0.2.4",
        "gitcommitid": "",
        "data": {
            "project": "sockshop",
            "stage": "staging",
            "service": "carts",
            "labels": {"buildId": "build-1852", "owner": "team-checkout"},
            "status": "succeeded",
            "result": "fail",
            "evaluation": {
                "timeStart": "2026-11-20T14:02:11.000Z",
                "timeEnd": "2026-11-20T14:07:41.000Z",
                "result": "fail",
                "score": 33.33333333333333,
                "indicatorResults": [
                    _indicator("Response time P95", "response_time_p95", 947.318, 918.89846, "fail", "<=+10%"),
                    _indicator("Throughput", "throughput", 1790.0, 1736.3, "pass", ">=-5%"),
                    _indicator("Error rate", "error_rate", 0.087, 0.08438999999999999, "fail", "<=0.02"),
                ],
                "comparedEvents": ["8d1e4b9a-0c22-4f8a-9c4e-3d6f5a7b8c99"],
            },
        },
    }


def _alert() -> list[dict[str, object]]:
    """One Alertmanager v2 alert carrying the same facts, for the Alertmanager column."""
    return [
        {
            "labels": {
                "alertname": "QualityGateFailed",
                "id": _ID_SLOT,
                "bench": _MARKER_SLOT,
                "project": "sockshop",
                "stage": "staging",
                "service": "carts",
                "severity": "critical",
            },
            "annotations": {
                "summary": "Quality gate failed with score 33.33 for sockshop/staging/carts",
                "description": "Response time P95: 947.32 (pass if <=+10%), key SLI; Error rate: 0.087 (<=0.02)",
            },
            "generatorURL": "http://127.0.0.1/bench",
        }
    ]


class BodyFactory:
    """Builds request bodies by splicing the id and marker into pre-serialised bytes: no JSON work per send."""

    def __init__(self, kind: str, run_id: str) -> None:
        document = _alert() if kind == "alert" else _evaluation_event()
        text = orjson.dumps(document).decode()
        head, _, rest = text.partition(_ID_SLOT)
        middle, found, tail = rest.partition(_MARKER_SLOT)
        if not found:
            raise ValueError("the body template needs the id slot before the marker slot")
        self._parts = (head.encode(), middle.encode(), tail.encode())
        self._run_id = run_id

    def body(self, seq: int, sent_ns: int) -> bytes:
        head, middle, tail = self._parts
        return b"".join((head, f"bench-{self._run_id}-{seq}".encode(), middle, marker(seq, sent_ns).encode(), tail))


def fixed_body(size: int = 2048) -> bytes:
    """The floor's forward: a Slack-shaped JSON body of exactly `size` bytes."""
    frame = b'{"text":"' + b'"}'
    return b'{"text":"' + b"x" * (size - len(frame)) + b'"}'

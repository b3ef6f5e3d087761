"""Golden files: the exact payload each renderer produces for a few representative messages.

A change to a renderer shows up here as a diff to review. After an intended change, rewrite the files with
    UPDATE_GOLDEN=1 pytest tests/render/test_golden.py
and review `git diff tests/golden/` before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import MappingProxyType

import pytest

from notifier.message import Fact, Link, Message, Severity
from notifier.render import render
from tests.payload_checks import assert_no_unescaped_control, assert_valid_slack_payload, assert_valid_teams_envelope

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SUFFIX = MappingProxyType({"slack": "json", "teams": "json", "messagecard": "json", "text": "txt"})

SAMPLES = MappingProxyType(
    {
        "deployment-succeeded": Message(
            title="Deployment of carts to dev succeeded",
            severity=Severity.SUCCESS,
            summary="sockshop/dev/carts: deployment succeeded",
            text="Version 0.13.2 is live with the blue_green strategy.\n\n• http://carts.sockshop-dev:8080\n"
            "• https://carts.dev.example.com",
            facts=(
                Fact("Project", "sockshop"),
                Fact("Stage", "dev"),
                Fact("Service", "carts"),
                Fact("Result", "pass"),
            ),
            links=(Link("Open in Bridge", "https://bridge.example.com/trace/6e3b1a4c"),),
            footer="Keptn context 6e3b1a4c · 2024-03-01T10:15:00.123456789Z · deployment",
        ),
        "evaluation-failed-hostile": Message(
            title="Quality gate failed: <!channel> [click](https://evil.example)",
            severity=Severity.FAILURE,
            summary="sockshop/staging/carts: evaluation failed (score 33.33)",
            text="Indicators:\n• response_time_p95 = 1200 ms (pass < 600) <@U123>\n- error_rate & <at>All</at>\n"
            "1. `rm -rf` *bold*",
            facts=(
                Fact("Score", "33.33"),
                Fact("Result", "fail"),
                Fact("Problem URL", "<https://evil.example|Bridge>"),
            ),
            links=(
                Link("Evaluation", "https://bridge.example.com/evaluation/9f1c"),
                Link("Click me", "javascript:alert(1)"),
            ),
            footer="Keptn context 9f1c",
        ),
        "approval-needed": Message(
            title="✋ Approval needed for production",
            severity=Severity.WARNING,
            text="Deploying carts 0.13.3 to production waits for a manual approval.",
            facts=(Fact("Project", "sockshop"), Fact("Stage", "production")),
            links=(
                Link("Approve in Bridge", "https://bridge.example.com/project/sockshop/sequence/77aa/stage/production"),
                Link("Trace", "https://bridge.example.com/trace/77aa"),
            ),
        ),
        "title-only": Message(title="Sequence delivery started"),
    }
)


def _serialize(payload: object) -> str:
    if isinstance(payload, str):
        return payload
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("format", sorted(SUFFIX))
@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_renderer_output_matches_golden_file(sample: str, format: str) -> None:
    payload = render(format, SAMPLES[sample])
    if format == "slack":
        assert isinstance(payload, dict)
        assert_valid_slack_payload(payload)
        assert_no_unescaped_control(payload)
    elif format == "teams":
        assert isinstance(payload, dict)
        assert_valid_teams_envelope(payload)
    actual = _serialize(payload)
    path = GOLDEN / f"{sample}.{format}.{SUFFIX[format]}"
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run UPDATE_GOLDEN=1 pytest {__file__} and review the new file"
    assert actual == path.read_text(encoding="utf-8"), f"{path.name} changed; see the module docstring"

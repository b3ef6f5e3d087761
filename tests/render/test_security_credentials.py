"""Issue 17.4: a credential in a URL of an event is never posted, and a URL that carried a password is no button.

Every sample event gets credentials in every place a URL comes from (labels, the problem URL, the deployment
URIs, the git remote, the message), and every renderer's payload is searched for them.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from notifier.keptn.events import event_from_mapping
from notifier.render import RENDERERS, render
from notifier.templating import TemplateSet, fallback_message, load_samples_by_name
from tests.payload_checks import all_strings

PASSWORD = "S3cretPw-7f1c"
USER = "ci-robot-9d2e"
LABELS = {
    "CI run": f"http://{USER}:{PASSWORD}@ci.example.com/job/1861",
    "Dashboard": f"https://{USER}@grafana.example.com/d/carts",
    "Build log": f"https://{USER}:{PASSWORD}@ci.example.com/job/1861/console?tail=" + "x" * 150,
}
SAMPLES = load_samples_by_name()


def with_credentials(raw: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    data = raw.setdefault("data", {})
    data["labels"] = {
        **(data.get("labels") or {}),
        **LABELS,
        "Problem URL": f"https://{USER}:{PASSWORD}@dt.example.com/p",
    }
    data["message"] = f"{data.get('message', '')} see https://{USER}:{PASSWORD}@logs.example.com/run/1 " + "y" * 1200
    for problem in (data, data.get("problem")):
        if isinstance(problem, dict) and ("ProblemURL" in problem or "problemURL" in problem):
            problem["ProblemURL"] = problem["problemURL"] = f"https://{USER}:{PASSWORD}@dt.example.com/#problems/1"
    if isinstance(data.get("deployment"), dict):
        data["deployment"]["deploymentURIsPublic"] = [
            f"https://{USER}:{PASSWORD}@carts.example.com",
            f"https://{USER}@carts-canary.example.com",
        ]
        data["deployment"]["deploymentURIsLocal"] = [f"http://{USER}:{PASSWORD}@carts.sockshop:8080"]
    if isinstance(data.get("createdProject"), dict):
        data["createdProject"]["gitRemoteURL"] = f"https://{USER}:{PASSWORD}@git.example.com/sockshop.git"
    return raw


def links_of(payload: object) -> list[str]:
    """Every URL a reader can click: Slack buttons, Teams actions, MessageCard targets, console `link:` lines."""
    if isinstance(payload, str):
        return [line.rpartition("<")[2].rstrip(">") for line in payload.splitlines() if "link:" in line]
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("url", "uri"):
                if isinstance(node.get(key), str):
                    found.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload)
    return found


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet(None, "https://bridge.example.com")


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_no_credential_of_an_event_url_reaches_any_payload(templates: TemplateSet, name: str, fmt: str) -> None:
    event = event_from_mapping(with_credentials(dict(SAMPLES[name].raw)))
    for message in (templates.render(event), fallback_message(event, "failed in a test")):
        payload = render(fmt, message)
        posted = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        assert PASSWORD not in posted and USER not in posted, f"{name}/{fmt}: a credential is posted"
        # The user info is gone before any cut: no part of the password survives either.
        assert PASSWORD[:5] not in posted and USER[:6] not in posted
        for url in links_of(payload):
            assert "@" not in url.partition("//")[2].partition("/")[0], f"{name}/{fmt}: user info in {url}"


def test_a_label_with_a_password_is_shown_as_text_and_one_with_a_user_name_is_a_button(
    templates: TemplateSet,
) -> None:
    message = templates.render(event_from_mapping(with_credentials(dict(SAMPLES["deployment-finished"].raw))))
    urls = [link.url for link in message.links]
    assert "https://grafana.example.com/d/carts" in urls
    assert "https://carts-canary.example.com" in urls
    assert not any("ci.example.com" in url or url == "https://carts.example.com" for url in urls)
    slack = render("slack", message)
    shown = " ".join(all_strings(slack))
    assert "CI run: http://ci.example.com/job/1861" in shown
    assert "Build log: https://ci.example.com/job/1861/console?tail=" in shown

"""The pure helpers behind issue 9.2: task payload fields, label display, real URLs and safe git remotes."""

from __future__ import annotations

from typing import Any

import pytest

from notifier.keptn import payload
from notifier.keptn.labels import MAX_SHOWN, shown_labels
from notifier.keptn.urls import is_placeholder, is_real_url, safe_git_remote


@pytest.mark.parametrize(
    ("url", "real"),
    [
        ("https://abc12345.live.dynatrace.com/#problems/problemdetails;pid=1", True),
        ("http://127.0.0.1:8080/x", True),
        ("https://[::1]:9090/graph", True),
        ("https://github.com/keptn/keptn/compare/1.4.4...1.4.5", True),
        ("https://bücher.example/katalog", True),
        ("https://.../#problems/problemdetails;pid=93a5", False),
        ("https://…/x", False),
        ("https://dt.example.com/.../problems", False),
        ("https://dt.example.com/problems/…", False),
        ("https://<your-tenant>.live.dynatrace.com/", False),
        ("https://{tenant}.example.com/", False),
        ("https:///path-only", False),
        ("javascript:alert(1)", False),
        ("/trace/1", False),
        ("https://example.com/a b", False),
        ("", False),
    ],
)
def test_only_real_web_urls_become_links(url: str, real: bool) -> None:
    assert is_real_url(url) is real


def test_a_placeholder_is_about_the_host_and_whole_path_segments() -> None:
    assert is_placeholder("https://...")
    assert not is_placeholder("https://example.com/v1...v2")


@pytest.mark.parametrize(
    ("remote", "shown"),
    [
        ("https://github.com/acme/sockshop.git", "https://github.com/acme/sockshop.git"),
        ("https://user:pass@github.com/acme/sockshop.git", "https://github.com/acme/sockshop.git"),
        ("https://ghp_abc@github.com/acme/sockshop", "https://github.com/acme/sockshop"),
        ("https://git.example.com/r.git?private_token=abc#frag", "https://git.example.com/r.git"),
        ("ssh://git:pw@git.example.com:2222/r.git", "ssh://git.example.com:2222/r.git"),
        ("git@github.com:acme/sockshop.git", "git@github.com:acme/sockshop.git"),
        ("deploy:s3cret@github.com:acme/sockshop.git", "github.com:acme/sockshop.git"),
        ("javascript:alert(1)", ""),
        ("not a url", ""),
        ("", ""),
    ],
)
def test_a_git_remote_is_shown_without_credentials(remote: str, shown: str) -> None:
    assert safe_git_remote(remote) == shown


def test_labels_are_bounded_and_links_are_buttons() -> None:
    labels = {f"k{number:02d}": f"v{number}" for number in range(MAX_SHOWN + 3)}
    labels = {"CI run": "https://ci.example.com/1", "Docs": "https://.../x", **labels, "": "no name", "empty": " "}
    shown = shown_labels(labels)
    assert shown["links"] == [{"title": "CI run", "url": "https://ci.example.com/1"}]
    pairs = shown["pairs"]
    assert isinstance(pairs, list) and len(pairs) == MAX_SHOWN
    assert pairs[0] == {"name": "Docs", "value": "https://.../x"}
    assert shown["more"] == 4
    assert str(shown["text"]).startswith("Docs: https://.../x · k00: v0 · ")
    assert str(shown["text"]).endswith(" (and 4 more)")


def test_labels_shown_elsewhere_are_skipped_and_long_ones_cut() -> None:
    shown = shown_labels(
        {"Problem URL": "https://dt.example.com/p/1", "n" * 60: "v\n" * 100}, ["https://dt.example.com/p/1"]
    )
    assert shown["links"] == []
    assert shown["text"] == f"{'n' * 39}…: {'v ' * 59}v…"


def test_no_labels_show_nothing() -> None:
    assert shown_labels({}) == {"text": "", "pairs": [], "links": [], "more": 0}


def test_task_payloads_are_read_leniently() -> None:
    data: dict[str, Any] = {
        "test": {"teststrategy": "functional"},
        "evaluation": {"timeframe": "5m"},
        "get-sli": {"indicators": ["a", " b ", 3, "", None]},
        "action": {"name": "Scale up", "action": "scaling", "description": "Adds a replica", "value": {"n": 1}},
        "createdProject": {"gitRemoteURL": "https://u:p@git.example.com/r.git"},
        "type": "prometheus",
    }
    assert payload.strategy_of_tests(data) == "functional"
    assert payload.evaluation_timeframe(data) == "5m"
    assert payload.requested_slis(data) == ["a", "b"]
    assert payload.action_details(data) == {
        "present": True,
        "name": "Scale up",
        "action": "scaling",
        "description": "Adds a replica",
    }
    assert payload.git_remote(data) == "https://git.example.com/r.git"
    assert payload.monitoring_type("sh.keptn.event.monitoring.configure", data) == "prometheus"
    assert payload.monitoring_type("sh.keptn.event.test.finished", data) == ""
    garbage: dict[str, Any] = {
        "test": [],
        "evaluation": "x",
        "get-sli": {"indicators": "a"},
        "action": {"gitCommit": "1"},
    }
    assert payload.strategy_of_tests(garbage) == payload.evaluation_timeframe(garbage) == ""
    assert payload.requested_slis(garbage) == []
    assert payload.action_details(garbage)["present"] is False
    assert payload.git_remote(garbage) == ""


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        (
            {"ProblemDetails": {"severityLevel": "PERFORMANCE", "impactLevel": "SERVICE", "startTime": 1587624420000}},
            {"severity": "PERFORMANCE", "impact": "SERVICE", "started": "2020-04-23T06:47:00Z"},
        ),
        (
            {"ProblemSeverity": "ERROR", "ProblemImpact": "APPLICATION", "ProblemDetails": "text"},
            {"severity": "ERROR", "impact": "APPLICATION", "started": ""},
        ),
        (
            {"severity": "critical", "startsAt": "2026-11-21T09:00:00Z"},
            {"severity": "critical", "impact": "", "started": "2026-11-21T09:00:00Z"},
        ),
        ({"ProblemDetails": {"startTime": -1, "endTime": -1}}, {"severity": "", "impact": "", "started": ""}),
        ({"ProblemDetails": {"startTime": 10**30}}, {"severity": "", "impact": "", "started": ""}),
        ({}, {"severity": "", "impact": "", "started": ""}),
    ],
)
def test_problem_severity_impact_and_start_in_any_shape(problem: dict[str, Any], expected: dict[str, str]) -> None:
    assert payload.problem_info({"problem": problem}) == expected
    assert payload.problem_info(problem, legacy=True) == expected

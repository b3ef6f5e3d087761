"""The pure helpers behind issue 9.2: task payload fields, label display, real URLs and safe git remotes."""

from __future__ import annotations

from typing import Any

import pytest

from notifier.keptn import payload
from notifier.keptn.labels import MAX_SHOWN, shown_labels
from notifier.keptn.urls import is_placeholder, is_real_url, link_url, safe_git_remote, without_userinfo


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


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://ci.example.com/job/1", "https://ci.example.com/job/1"),
        ("https://ci.example.com/job/1?user=a@b.example#x@y", "https://ci.example.com/job/1?user=a@b.example#x@y"),
        ("https://builder@ci.example.com/job/1", "https://ci.example.com/job/1"),
        ("https://@ci.example.com/job/1", "https://ci.example.com/job/1"),
        ("HTTP://a@b@ci.example.com:8080", "HTTP://ci.example.com:8080"),
        ("http://user:secret@ci.example.com/job/1", ""),
        ("https://:secret@ci.example.com/", ""),
        ("https://user:@ci.example.com/", ""),
        ("https://user:secret@ci.example.com\\@good.example/", ""),
        ("ftp://user:secret@files.example.com/", ""),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
        ("", ""),
    ],
)
def test_a_link_loses_its_user_name_and_a_password_makes_it_none(url: str, link: str) -> None:
    assert link_url(url) == link


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("see http://ci:s3cret@ci.example.com/job/1.", "see http://ci.example.com/job/1."),
        ("a https://tok@h.example b ssh://git:pw@git.example.com/r", "a https://h.example b ssh://git.example.com/r"),
        ("two@https://u:p@x.example/@y https://z.example/a@b", "two@https://x.example/@y https://z.example/a@b"),
        ("git@github.com:acme/r.git and a@b.example stay", "git@github.com:acme/r.git and a@b.example stay"),
        ("build 42https://d:pw@ci.example.com/x", "build 42https://ci.example.com/x"),
        # A long word before `://` is one scheme, not 20,000 places to start one (that took seconds).
        ("a" * 20_000 + "://" + "b" * 20_000 + " @", "a" * 20_000 + "://" + "b" * 20_000 + " @"),
        ("no url at all", "no url at all"),
    ],
)
def test_every_url_in_a_text_loses_its_user_info(text: str, shown: str) -> None:
    assert without_userinfo(text) == shown


def test_a_label_url_with_a_password_is_text_without_it_and_never_a_button() -> None:
    shown = shown_labels(
        {
            "CI run": "http://ci-bot:S3cretPw@ci.example.com/job/1861",
            "Docs": "https://reader@docs.example.com/carts",
            "Note": "rebuilt from https://tok:S3cretPw@git.example.com/" + "x" * 200,
        }
    )
    assert shown["links"] == [{"title": "Docs", "url": "https://docs.example.com/carts"}]
    assert shown["pairs"][0] == {"name": "CI run", "value": "http://ci.example.com/job/1861"}
    assert "S3cretPw" not in str(shown) and "ci-bot" not in str(shown) and "tok:" not in str(shown)


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

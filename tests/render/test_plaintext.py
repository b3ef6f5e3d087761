"""Shared plain-text helpers of the renderers: URL acceptance, truncation, cleaning, size budgets."""

from __future__ import annotations

import pytest

from notifier.render.budget import BUDGETS, Budget, fit
from notifier.render.plaintext import clean, one_line, truncate, utf16_length, web_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bridge.example/trace/1?a=b#c", "https://bridge.example/trace/1?a=b#c"),
        ("  HTTP://Host.example/x  ", "HTTP://Host.example/x"),
        ("https://grafana.example/d?var=a|b c", "https://grafana.example/d?var=a%7Cb%20c"),
        ('https://x.example/<script>"', "https://x.example/%3Cscript%3E%22"),
        ("https://bücher.example/ä", "https://bücher.example/ä"),
        ("javascript:alert(1)", None),
        ("vbscript:msgbox", None),
        ("data:text/html,hi", None),
        ("file:///etc/passwd", None),
        ("https:/no-host", None),
        ("https://[::1", None),
        ("https://evil.example\\@good.example", None),
        ("https://a.example/\x00", None),
        ("https://a.example/\u202egnp.exe", None),
        ("", None),
    ],
)
def test_web_url(url: str, expected: str | None) -> None:
    assert web_url(url) == expected


def test_truncate_keeps_short_text_and_cuts_long_text_with_an_ellipsis() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("a b c d e f", 6) == "a b c…"
    assert truncate("abcdef", 0) == ""


def test_truncate_measures_the_escaped_text_and_never_splits_an_escape() -> None:
    def escape(text: str) -> str:
        return text.replace("&", "&amp;")

    assert truncate("&&&&", 12, escape) == "&amp;&amp;…"
    assert truncate("x&&&", 11, escape) == "x&amp;…"


def test_utf16_length_counts_astral_characters_twice() -> None:
    assert utf16_length("a😀") == 3


def test_clean_drops_controls_and_bidi_overrides_but_keeps_lines() -> None:
    assert clean("a\r\nb\rc\x1b[0m\u202ed\te") == "a\nb\nc[0md\te"
    assert one_line("  a \n b\t c ") == "a b c"


def test_fit_gives_the_longest_text_that_fits() -> None:
    def build(budget: Budget) -> str:
        return "x" * budget.text

    assert fit(build, len, 1234, 5000) == "x" * 1234
    assert fit(build, len, 10_000, 5000) == "x" * 5000


def test_fit_moves_to_smaller_budgets_when_the_rest_does_not_fit() -> None:
    def build(budget: Budget) -> tuple[int, int]:
        return (budget.facts, budget.text)

    def size(built: tuple[int, int]) -> int:
        facts, text = built
        return facts * 100 + text

    facts, text = fit(build, size, 2500, 5000)
    assert facts == 20
    assert text == 500
    assert facts in [budget.facts for budget in BUDGETS]

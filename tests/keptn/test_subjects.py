import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.keptn.subjects import SubjectPattern, SubjectSet


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("sh.keptn.>", "sh.keptn.event.evaluation.finished", True),
        ("sh.keptn.>", "sh.keptn", False),
        ("sh.keptn.event.*.finished", "sh.keptn.event.evaluation.finished", True),
        # the facts file: task wildcard must not catch sequence events or status.changed
        ("sh.keptn.event.*.finished", "sh.keptn.event.dev.delivery.finished", False),
        ("sh.keptn.event.*.finished", "sh.keptn.event.deployment.status.changed", False),
        ("sh.keptn.*", "sh.keptn.event.evaluation.finished", False),
        ("sh.keptn.event.*.*.finished", "sh.keptn.event.dev.delivery.finished", True),
        ("sh.keptn.event.evaluation.finished", "sh.keptn.event.evaluation.finished", True),
        ("sh.keptn.event.evaluation.finished", "sh.keptn.event.evaluation.started", False),
        ("sh.keptn.events.problem", "sh.keptn.events.problem", True),
    ],
)
def test_nats_wildcards(pattern: str, subject: str, expected: bool) -> None:
    assert SubjectPattern.parse(pattern).matches(subject) is expected


def test_comma_list_is_trimmed_and_empty_pieces_skipped() -> None:
    subjects = SubjectSet.parse(" sh.keptn.event.*.finished , sh.keptn.events.problem,, ")
    assert [p.text for p in subjects.patterns] == ["sh.keptn.event.*.finished", "sh.keptn.events.problem"]
    assert subjects.matches("sh.keptn.events.problem")
    assert not subjects.matches("sh.keptn.event.dev.delivery.triggered")


@pytest.mark.parametrize("bad", ["sh..keptn", "sh.keptn.>.x", "sh.kep*", "."])
def test_invalid_patterns_are_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ValueError, match="subject|token|wildcard"):
        SubjectPattern.parse(bad)


tokens = st.text(alphabet="abcdef-", min_size=1, max_size=5)


@given(st.lists(tokens, min_size=1, max_size=6))
def test_exact_pattern_matches_itself_and_gt_matches_any_longer(parts: list[str]) -> None:
    subject = ".".join(parts)
    assert SubjectPattern.parse(subject).matches(subject)
    assert SubjectPattern.parse(f"{parts[0]}.>").matches(subject) is (len(parts) > 1)
    star = ".".join(["*"] * len(parts))
    assert SubjectPattern.parse(star).matches(subject)


@pytest.mark.parametrize(
    ("wide", "narrow", "expected"),
    [
        ("sh.keptn.>", "sh.keptn.event.evaluation.finished", True),
        ("sh.keptn.>", "sh.keptn.event.*.*.finished", True),
        ("sh.keptn.>", "sh.keptn.>", True),
        ("sh.keptn.event.*.finished", "sh.keptn.event.evaluation.finished", True),
        ("sh.keptn.event.evaluation.finished", "sh.keptn.event.*.finished", False),
        ("sh.keptn.event.*.finished", "sh.keptn.event.>", False),
        ("sh.keptn.event.*.finished", "sh.keptn.event.*.*.finished", False),
        ("sh.keptn.*", "sh.keptn.>", False),
        ("sh.keptn.event.>", "sh.keptn.event", False),
    ],
)
def test_a_pattern_covers_another_when_it_matches_everything_the_other_does(
    wide: str, narrow: str, expected: bool
) -> None:
    assert SubjectPattern.parse(wide).covers(SubjectPattern.parse(narrow)) is expected


def test_the_essential_patterns_drop_repeats_and_covered_ones_and_keep_partial_overlaps() -> None:
    subjects = SubjectSet.parse(
        "sh.keptn.event.evaluation.finished,sh.keptn.event.*.finished,sh.keptn.events.problem,"
        "sh.keptn.events.problem,sh.keptn.event.evaluation.>"
    )
    assert [pattern.text for pattern in subjects.essential()] == [
        "sh.keptn.event.*.finished",
        "sh.keptn.events.problem",
        "sh.keptn.event.evaluation.>",
    ]
    assert SubjectSet.parse("a.b,a.>").essential() == SubjectSet.parse("a.>").patterns


@given(st.lists(st.lists(st.sampled_from(["a", "b", "*"]), min_size=1, max_size=3), min_size=1, max_size=5))
def test_the_essential_patterns_match_exactly_what_all_of_them_match(pieces: list[list[str]]) -> None:
    subjects = SubjectSet.parse([".".join(parts) for parts in pieces])
    essential = SubjectSet(subjects.essential())
    for subject in ("a", "b", "a.a", "a.b", "b.a", "a.b.a", "b.b.b"):
        assert essential.matches(subject) is subjects.matches(subject)

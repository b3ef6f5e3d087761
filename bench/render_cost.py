"""`python -m bench.render_cost [--repeat N] [--rounds K]`: CPU cost of turning a stored event into payloads.

An A/B harness for the render path alone, without HTTP, the store or the event loop. For each event it
times the stages delivery runs for one notification: parse the stored body, build the template context,
fill the template into a Message, render the Slack and the Teams payload, and the whole path for one Slack
notification, each as its own loop, `repeat` times over every event (256 copies of each workload's events,
each with its own id and Keptn context). It prints CPU microseconds per message
(this thread's CPU time, so that time spent preempted does not count), best of `rounds` rounds, with the
spread over the rounds. The machine is shared: compare A and B runs taken back to back, alternating.
Two workloads: the benchmark's evaluation event (`bench`) and the packaged sample events (`samples`, the
mean over all of them).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from bench.workload import BodyFactory
from notifier.keptn.context import template_context
from notifier.keptn.events import KeptnEvent, load_event
from notifier.message import Message
from notifier.render import render
from notifier.templating import TemplateSet, load_samples

BRIDGE_URL = "https://bridge.example.com"
STAGES = ("parse", "context", "template", "slack", "teams", "slack_notification")


# Copies of each event with their own id and Keptn context, as a stream of events has: with one copy, caches
# keyed on what an event says (urllib's urlsplit keeps the last 128 URLs) would hit as they never do in service.
VARIANTS = 256


def workloads() -> dict[str, list[bytes]]:
    """Stored bodies per workload, as the store hands them to the composer."""
    factory = BodyFactory("evaluation", "render")
    samples = [dict(sample.raw) for sample in load_samples()]
    return {
        "bench": [factory.body(seq, 123_456_789 + seq) for seq in range(VARIANTS)],
        "samples": [
            orjson.dumps({**raw, "id": f"{raw['id']}-{copy}", "shkeptncontext": f"{raw.get('shkeptncontext')}-{copy}"})
            for copy in range(VARIANTS // len(samples) + 1)
            for raw in samples
        ],
    }


def _stages(templates: TemplateSet, bodies: list[bytes]) -> dict[str, Callable[[], object]]:
    """One callable per stage, each doing its stage once for every body."""
    events: list[KeptnEvent] = [load_event(body) for body in bodies]
    messages: list[Message] = [templates.render(event) for event in events]
    return {
        "parse": lambda: [load_event(body) for body in bodies],
        "context": lambda: [template_context(event, BRIDGE_URL) for event in events],
        "template": lambda: [templates.render(event) for event in events],
        "slack": lambda: [render("slack", message) for message in messages],
        "teams": lambda: [render("teams", message) for message in messages],
        "slack_notification": lambda: [render("slack", templates.render(load_event(body))) for body in bodies],
    }


def _time_us(stage: Callable[[], object], repeat: int, per_call: int) -> float:
    # CPU time of this thread, not wall time: on a shared machine, time spent preempted is not the stage's cost.
    start = time.thread_time_ns()
    for _ in range(repeat):
        stage()
    return (time.thread_time_ns() - start) / 1000 / (repeat * per_call)


def measure(repeat: int, rounds: int) -> dict[str, dict[str, dict[str, float]]]:
    """{workload: {stage: {"best", "median", "worst"}}} in microseconds per message."""
    templates = TemplateSet(None, bridge_url=BRIDGE_URL)
    result: dict[str, dict[str, dict[str, float]]] = {}
    for name, bodies in workloads().items():
        stages = _stages(templates, bodies)
        for warm_up in stages.values():  # caches, first-call compilation
            warm_up()
        # Out of the collector's sight: a full collection walks every object the harness holds (10 to 20 us
        # per message of whichever stage it falls in), which is the harness's cost, not the stage's.
        gc.freeze()
        samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
        for _ in range(rounds):
            for stage, run in stages.items():  # interleaved, so drift hits every stage alike
                samples[stage].append(_time_us(run, repeat, len(bodies)))
        gc.unfreeze()
        result[name] = {
            stage: {"best": min(times), "median": statistics.median(times), "worst": max(times)}
            for stage, times in samples.items()
        }
    return result


def table(result: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [f"{'us per message':<28}{'best':>9}{'median':>9}{'worst':>9}"]
    for name, stages in result.items():
        for stage, figures in stages.items():
            lines.append(
                f"{name + ' ' + stage:<28}" + "".join(f"{figures[key]:>9.1f}" for key in ("best", "median", "worst"))
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.render_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="loops over every event per round (default 10)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the best and the spread are reported")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.rounds < 1:
        parser.error("--repeat and --rounds must be at least 1")
    result = measure(args.repeat, args.rounds)
    output: Any = json.dumps(result, indent=2) if args.json else table(result)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

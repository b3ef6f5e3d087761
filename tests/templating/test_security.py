"""Issue 5.3 against the real service: hostile user templates give the fallback, leak nothing, and the service
stays healthy and keeps delivering."""

import time
from pathlib import Path

import orjson

from tests.fakes import FakeChatServer
from tests.helpers import every_route, keptn_event, running_service, slack_hook

ATTACKS = {
    # a render that would take hours: stopped by the time limit
    "sh.keptn.event.evaluation.finished": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}"
    "{% endfor %}",
    # a sandbox escape
    "sh.keptn.event.deployment.finished": '{{ "".__class__.__mro__[1].__subclasses__() }}',
    # reaching for the file system
    "sh.keptn.event.test.finished": '{% set f = "../../../../etc/passwd" %}{% include f %}',
    # a memory bomb
    "sh.keptn.event.release.finished": '{{ "a" * 1000000000 }}',
    # reaching for the environment and the configuration: these names do not exist in a template
    "sh.keptn.event.approval.finished": "{{ environ }}{{ os }}{{ config }}{{ settings }}{{ secrets }}{{ self }}"
    "{{ lipsum }}{{ namespace }}{{ cycler.__init__ }}",
}


async def test_hostile_templates_fall_back_leak_nothing_and_the_service_stays_healthy(
    tmp_path: Path, chat_server: FakeChatServer
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    for event_type, text in ATTACKS.items():
        (templates / f"{event_type}.yaml").write_text(f"title: attack\ntext: {text!r}\n")
    hook = slack_hook(chat_server.url)
    config = {"channels": {"hook": hook}, "routes": every_route("hook")}
    async with running_service(tmp_path, config, templates_dir=str(templates), pubsub_topic="sh.keptn.>") as svc:
        for index, event_type in enumerate(ATTACKS):
            status, _ = await svc.post_json(keptn_event(f"attack-{index}", event_type))
            assert status == 202
        started = time.monotonic()
        assert (await svc.get("/health"))[0] == 200
        status, _ = await svc.post_json(keptn_event("innocent", "sh.keptn.event.get-sli.finished"))
        assert status == 202
        await chat_server.wait_for(len(ATTACKS) + 1, "/slack/hook", timeout=30)
        assert time.monotonic() - started < 20
        assert await svc.metric("keptn_notifier_template_failures_total") >= len(ATTACKS) - 1
        assert (await svc.get("/ready"))[0] == 200
    bodies = [item.body.decode() for item in chat_server.received_on("/slack/hook")]
    assert len(bodies) == len(ATTACKS) + 1
    secret_path = hook["webhook_url"].split("://", 1)[1].split("/", 1)[1]
    for body in bodies:
        assert "root:" not in body and "<class" not in body and "aaaaaaaaaa" not in body
        assert secret_path not in body
        assert "environ(" not in body and "object at 0x" not in body
    # Every attack ended in the plain fallback, which says so; the innocent event got its normal message.
    plain = [body for body in bodies if "Plain message: the notification template" in body]
    assert len(plain) == len(ATTACKS)
    innocent = [orjson.loads(body) for body in bodies if "ctx-innocent" in body]
    assert len(innocent) == 1 and "Plain message" not in orjson.dumps(innocent[0]).decode()

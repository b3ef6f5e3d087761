"""A webhook or Teams message cannot sit in a thread: each built-in template says which run it belongs to."""

import pytest

from notifier.templating import TemplateSet, load_samples_by_name

BRIDGE = "https://keptn.example.com/bridge"
SAMPLES = load_samples_by_name()
OF_A_RUN = sorted(
    name for name, event in SAMPLES.items() if event.keptn_context and not name.startswith("project-create")
)


@pytest.mark.parametrize("name", OF_A_RUN)
def test_every_message_of_a_run_names_it_and_links_to_its_trace(name: str) -> None:
    event = SAMPLES[name]
    message = TemplateSet(None, bridge_url=BRIDGE).render(event)
    context = event.keptn_context
    assert message.footer.startswith(f"Run {context[:8]} · Keptn context {context}"), message.footer
    trace = f"{BRIDGE}/trace/{context}"
    if name == "approval-triggered-manual":
        # a person must act: the one button is the approval's, which opens the run's sequence in the Bridge
        assert [link.url for link in message.links] == [
            f"{BRIDGE}/project/sockshop/sequence/{context}/stage/production"
        ]
    else:
        assert trace in [link.url for link in message.links], message.links


def test_without_a_bridge_url_there_is_no_link_but_still_the_run() -> None:
    event = SAMPLES["test-finished"]
    message = TemplateSet(None).render(event)
    assert message.links == () and message.footer.startswith(f"Run {event.keptn_context[:8]} ")

"""The thin Keptn-specific layer: what kind of event this is, which templates fit it, and what they see.

Everything Keptn-shaped is derived here, once, in Python, so templates stay short and a change in how Keptn
spells a field is fixed in one place. Every function is lenient: events come from many producers, any field
may be missing or of the wrong type, and a plain non-Keptn CloudEvent must still produce a context.

`kinds` classifies event types and chooses template names, `values` turns loose JSON values into text,
numbers and times, `details` and `outcome` derive the parts of the template context, and `context` assembles
it. This module imports none of them, so that `notifier.events` can use `values` without a cycle.
"""

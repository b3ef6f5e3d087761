"""Notification templates: YAML files of Jinja2 fields, rendered in a bounded sandbox into a Message.

Templates are configuration, written by operators and filled with event data sent by anything in the cluster.
So the engine is a sandbox with three extra bounds the Jinja sandbox lacks (output size, intermediate value
size, time), and rendering never raises: a broken template costs one plain fallback message and an ERROR
log line, never a lost notification. The built-in templates, part of the package, run outside the sandbox
by one rule, under the same output and time bounds.

The parts, one concern each: `sandbox` (the bounded environment and its limits), `trusted` (where the
built-ins run, and the rule), `filters`, `sources` (template folders and the only files a template may
import), `compiler` (a YAML file into compiled fields), `single_pass` (the fields of a file joined into one
Jinja template), `fill` (one render pass into a Message), `template_set` (choosing, rendering, checking),
`fallback` (the plain message) and `samples` (the packaged example events). The names below are the
package's face; everything else imports them from here.
"""

from notifier.templating.compiler import TemplateError
from notifier.templating.fallback import fallback_message
from notifier.templating.samples import load_samples, load_samples_by_name
from notifier.templating.sandbox import RenderLimitExceeded, TemplateLimits
from notifier.templating.template_set import TemplateSet

__all__ = [
    "RenderLimitExceeded",
    "TemplateError",
    "TemplateLimits",
    "TemplateSet",
    "fallback_message",
    "load_samples",
    "load_samples_by_name",
]

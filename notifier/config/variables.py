"""Environment variables that look meant for the service but that it never reads.

A misspelt `SLACK_WEBHOOK` (for `SLACK_WEBHOOK_URL`) would leave the service posting to the console without a
word. Start-up and `check` name each variable with one of the service's prefixes that nothing reads, and the
known variable it was most likely meant to be.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Final

from notifier.suggest import closest

# A variable with one of these prefixes is the service's own, a mistake, or one of the foreign names below.
PREFIXES: Final = ("SLACK_", "TEAMS_", "NOTIFIER_", "KEPTN_")

# Foreign names that can be on the container: Kubernetes's service links. For every Service in the pod's
# namespace the kubelet sets <NAME>_SERVICE_HOST, <NAME>_SERVICE_PORT[_<port name>], <NAME>_PORT and
# <NAME>_PORT_<number>_<PROTO>[_PROTO|_PORT|_ADDR]; Keptn's namespace has keptn-nats and keptn-mongo, and this
# service's own keptn-notifier (KEPTN_NOTIFIER_SERVICE_HOST...). They count only beside their _SERVICE_HOST, so
# that a misspelt NOTIFIER_ADMN_PORT is still named.
# Keptn's own variables need no entry: its chart and the distributor (keptn/keptn 1.4.5: the common env vars of
# the chart, distributor/pkg/config/envconfig.go) put K8S_*, PUBSUB_*, API_PROXY_*, OAUTH_* and VERSION on an
# integration's containers, and of those with the prefixes above only KEPTN_API_ENDPOINT and KEPTN_API_TOKEN,
# which the service reads itself.
_SERVICE_LINK_END: Final = re.compile(
    r"SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?"
)
_SERVICE_HOST: Final = "_SERVICE_HOST"


def unknown_variable_warnings(env: Mapping[str, str], known: Collection[str], used: Collection[str] = ()) -> list[str]:
    """One warning per variable with a service prefix that is neither `known` nor `used` (by `${...}` in the
    config file) nor a service link; sorted, so that the lines come out the same on every start."""
    links = _service_links(env)
    unknown = sorted(
        name
        for name in env
        if name.startswith(PREFIXES) and name not in known and name not in used and name not in links
    )
    return [_warning(name, known) for name in unknown]


def _warning(name: str, known: Collection[str]) -> str:
    said = f"environment variable {name} is ignored: keptn-notifier reads no such variable"
    meant = closest(name, known)
    if meant is not None:
        return f"{said}; did you mean {meant!r}?"
    prefix = next(prefix for prefix in PREFIXES if name.startswith(prefix))
    kin = sorted(variable for variable in known if variable.startswith(prefix))
    return f"{said}; the {prefix}* variables it reads are {', '.join(kin)}" if kin else f"{said}; remove it"


def _service_links(env: Mapping[str, str]) -> set[str]:
    services = [name.removesuffix(_SERVICE_HOST) + "_" for name in env if name.endswith(_SERVICE_HOST)]
    return {
        name
        for name in env
        for service in services
        if name.startswith(service) and _SERVICE_LINK_END.fullmatch(name.removeprefix(service))
    }

# keptn-notifier image: a virtualenv built in a throwaway stage, copied onto a clean slim Python.
# Build: docker build -t keptn-notifier:0.1.0 .   (or podman build --format docker ..., which keeps the HEALTHCHECK)
# Nothing publishes this image: push it to a registry of yours and name it once in deploy/base/kustomization.yaml
# (deploy/README.md, "Image").
# Both stages use the same tag so the venv's interpreter path (/usr/local/bin/python3.11) exists in the final one.

FROM python:3.11-slim-trixie AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/keptn-notifier
ENV PATH=/opt/keptn-notifier/bin:$PATH

WORKDIR /src

# Dependencies first, from the lock file alone, so source edits reuse this layer.
COPY requirements.lock ./
RUN pip install --no-cache-dir --requirement requirements.lock

# Then the package itself; the constraint keeps every dependency at its locked version. The venv's own pip and
# setuptools only install: nothing imports them at run time, so they do not go into the image.
COPY . ./
RUN pip install --no-cache-dir --constraint requirements.lock . \
    && pip uninstall --yes pip setuptools \
    && keptn-notifier --help > /dev/null


FROM python:3.11-slim-trixie

LABEL org.opencontainers.image.title="keptn-notifier" \
      org.opencontainers.image.description="Slack and Microsoft Teams notifications for Keptn events" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

# No installer in the running image: the base image's pip, setuptools and wheel (and ensurepip's copies of them)
# go. A fixed numeric user and group, 10001 both, so that Kubernetes' runAsNonRoot can verify the user without
# /etc/passwd, and a volume prepared for group 10001 (fsGroup, chgrp) is writable.
RUN python -m pip uninstall --yes pip setuptools wheel \
    && rm -rf /usr/local/lib/python3.11/ensurepip \
    && groupadd --system --gid 10001 keptn-notifier \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin keptn-notifier \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/keptn-notifier

COPY --from=builder /opt/keptn-notifier /opt/keptn-notifier

ENV PATH=/opt/keptn-notifier/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NOTIFIER_STATE_DIR=/var/lib/keptn-notifier \
    NOTIFIER_ADMIN_PORT=9090

# The SQLite outbox: keep it on a volume, or queued notifications die with the container.
VOLUME ["/var/lib/keptn-notifier"]
# Not the state volume: what a tool writes by default (preview.html) must not land beside the outbox. /tmp is
# writable here and, in the manifests, an emptyDir under a read-only root filesystem.
WORKDIR /tmp

USER 10001:10001

# 8080: CloudEvents in (from the distributor sidecar); 9090: /health, /ready, /metrics.
EXPOSE 8080 9090

# Asks /health where `serve` listens, from the same settings (NOTIFIER_ADMIN_PORT, else PORT; NOTIFIER_CONFIG's
# settings:), on loopback and never through a proxy; exit 1 with the reason otherwise. Set ports with those, not
# with `serve --admin-port`, which this check cannot see.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-m", "notifier.app.healthcheck"]

ENTRYPOINT ["keptn-notifier"]
CMD ["serve"]

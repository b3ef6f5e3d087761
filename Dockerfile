# keptn-notifier image: a virtualenv built in a throwaway stage, copied onto a clean slim Python.
# Build: docker build -t ghcr.io/keptn-notifier/keptn-notifier:0.1.0 .
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

# Then the package itself; the constraint keeps every dependency at its locked version.
COPY . ./
RUN pip install --no-cache-dir --constraint requirements.lock . \
    && keptn-notifier --help > /dev/null


FROM python:3.11-slim-trixie

LABEL org.opencontainers.image.title="keptn-notifier" \
      org.opencontainers.image.description="Slack and Microsoft Teams notifications for Keptn events" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric user, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN useradd --system --no-log-init --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
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
WORKDIR /var/lib/keptn-notifier

USER 10001

# 8080: CloudEvents in (from the distributor sidecar); 9090: /health, /ready, /metrics.
EXPOSE 8080 9090

# Asks /health where `serve` listens, from the same settings (NOTIFIER_ADMIN_PORT, else PORT; NOTIFIER_CONFIG's
# settings:), on loopback and never through a proxy; exit 1 with the reason otherwise. Set ports with those, not
# with `serve --admin-port`, which this check cannot see.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-m", "notifier.healthcheck"]

ENTRYPOINT ["keptn-notifier"]
CMD ["serve"]

"""keptn-notifier: Slack and Microsoft Teams notifications for Keptn events."""

__version__ = "0.1.0"
SERVICE_NAME = "keptn-notifier"

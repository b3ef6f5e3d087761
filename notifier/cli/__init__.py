"""`keptn-notifier`: one command a module."""

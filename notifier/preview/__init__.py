"""`keptn-notifier preview`: payloads drawn as HTML, offline."""

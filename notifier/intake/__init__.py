"""Where events come in: the intake seam, HTTP, NATS, the CloudEvents wire formats, the listeners."""

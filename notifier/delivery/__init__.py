"""From the outbox to the channels: workers, what a result means, pacing, priority, threads, compose."""

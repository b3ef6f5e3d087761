"""The JetStream store: the outbox, dedup memory and shared state in NATS, for several replicas."""

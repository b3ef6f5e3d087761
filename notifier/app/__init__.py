"""The service's edges: wiring, the admin endpoints, registration, logs and the start-up checks."""

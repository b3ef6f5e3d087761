"""The stages every intake's events go through: bound, subscribe, route, noise, accept."""

"""Silences: mute on demand. A silence's matchers say which notifications it mutes (`matchers.py`), its time span
when (`silence.py`, where a new one is checked); `reach.py` says what of the config it can touch, `active.py`
applies the silences the store holds, and `summary.py` says once per channel what a silence muted."""

"""Noise control's policy: repeats, digests and quiet hours, decided once, here."""

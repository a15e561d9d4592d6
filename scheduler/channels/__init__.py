"""Channels: the Publisher contract, the registry of platforms, one folder per platform, and the
channel services (status, reconnect, pause, token renewal)."""

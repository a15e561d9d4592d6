"""Reach: counters read back from the platforms as time-stamped snapshots."""

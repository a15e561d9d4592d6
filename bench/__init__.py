"""Loa's benchmarks: each module measures Loa side by side with the baseline its issue names."""

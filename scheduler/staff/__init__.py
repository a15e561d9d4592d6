"""Staff and units: the roster people share from, and its import."""

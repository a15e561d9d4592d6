"""Reports: read-only aggregates and the formats they are exported in."""

"""Posts: what people ask to publish, and the rules a publication's status follows."""

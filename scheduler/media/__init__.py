"""The media library: photos and videos a post shows (checks by content, storage by hash)."""

"""The campaign kit on the share page: the avatar frame, the personal cover, "Tôi đã cập nhật"."""

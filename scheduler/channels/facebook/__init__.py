"""Facebook Pages: the Graph API client and its sandbox emulator."""

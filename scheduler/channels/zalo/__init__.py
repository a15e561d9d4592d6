"""Zalo Official Accounts: the OA API client and its sandbox emulator."""

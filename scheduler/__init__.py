"""Loa: a content scheduler for the communications staff of public offices."""

__version__ = "0.1.0"

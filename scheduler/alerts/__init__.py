"""Alerts: the outbox, e-mail and webhook delivery, who hears about what, the morning digest."""

"""Running Loa as a service: start-up refusals, `loa doctor`, `/metrics`, scheduled backups."""

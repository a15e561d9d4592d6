"""What the office writes once and reuses: message templates and campaigns, edited from the console."""

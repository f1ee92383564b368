"""The staff console: escalation queue, conversation takeover, live updates."""

"""Reminders and follow-ups: planning, quiet hours, caps, the persistent scheduler."""

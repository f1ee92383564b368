"""Admin pages of the staff console."""

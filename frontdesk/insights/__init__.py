"""What the assistant did for a practice and what it is worth, from PHI-free aggregates."""

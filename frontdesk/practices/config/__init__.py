"""A practice as a version-controlled YAML file: the format, validate, apply, export."""

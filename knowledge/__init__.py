"""Knowledge answers from a practice's own documents (ingest and retrieval).

Filled in by the knowledge issue; `knowledge/docs/` holds the demo practice's documents.
"""

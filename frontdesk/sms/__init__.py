"""The SMS channel's domain: numbers, consent, the outbox and its worker, inbound texts."""

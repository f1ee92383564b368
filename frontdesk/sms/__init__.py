"""SMS channel: numbers, consent, outbox, Twilio transport and the outbox worker."""

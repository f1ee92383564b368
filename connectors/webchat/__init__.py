"""Web chat over WebSocket: the widget's only door into the service.

`protocol` holds the wire format (frames, parsing, acks); `socket` the endpoint that opens,
rate limits and answers a connection; `identity` the identity and one-time-code frames.
"""

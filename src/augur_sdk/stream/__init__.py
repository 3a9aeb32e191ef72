"""Streaming to an Augur server (``AUGUR_DSN`` / ``dsn=``): DSN parsing, the bounded
worker-pool client, and the span processor that feeds it."""

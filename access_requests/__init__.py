"""Access requests, the access gate, and the hash-chained audit log."""

__all__: list[str] = []

"""Usage as it arrives: parsing, validation and attribution, deduplicated storage, request idempotency,
backpressure, and quarantine of what cannot be attributed."""

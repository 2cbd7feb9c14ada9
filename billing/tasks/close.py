"""Period-close tasks: the beat-scheduled close and per-tenant close."""

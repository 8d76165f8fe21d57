"""Stage 1 — data: load, validate, map columns and quarantine bad rows."""

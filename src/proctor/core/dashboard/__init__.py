"""Read models for the web dashboard and its live change feed (no HTTP here)."""

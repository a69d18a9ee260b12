"""Re-identification risk of a project extract (placeholder, filled below)."""

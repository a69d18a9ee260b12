"""pseudonymisation package."""

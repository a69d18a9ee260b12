"""access_requests package."""

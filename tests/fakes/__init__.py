"""Local HTTP servers that speak the real wire format of external services (tests only)."""

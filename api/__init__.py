"""The HTTP API and web console (FastAPI)."""

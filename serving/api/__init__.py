"""The JSON API: ``create_app(settings)`` builds the FastAPI application (see docs/api.md)."""

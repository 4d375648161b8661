"""The composition root: the FastAPI app, web pages and the ``creditwatch`` CLI."""

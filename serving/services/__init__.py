"""The application-service layer: one function per use case, called by every door (API, pages, CLI).

A service takes a :class:`~serving.services.context.Context` and returns a typed result; it checks the
actor's authority and writes the audit entry. Doors parse, call one service, render.
"""

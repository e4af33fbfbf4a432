"""Composition root: the FastAPI app, the `consentfl` CLI, settings and wiring of real adapters."""

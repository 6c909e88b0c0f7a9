"""The REST + SSE endpoints, one module per resource."""

"""The HTTP doors: the FastAPI routes, their request and response schemas, the middleware that
bounds every request (keys, limits, rate limits, access log) and stored feedback."""

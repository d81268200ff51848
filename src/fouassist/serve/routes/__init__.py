"""The API's routes by area: questions, documents and their upload jobs, feedback, the
OpenAI-compatible chat, and the service's own health and metrics."""

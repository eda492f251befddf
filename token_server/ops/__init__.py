"""What operators read: readiness, metrics, log format and redaction, the OpenAPI description, the start-up banner."""

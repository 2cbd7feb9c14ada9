"""REST API support owned by tenants: API-key authentication and its OpenAPI description, used by
every app's endpoints."""

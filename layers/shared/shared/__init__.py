"""Shared layer of the blog backend: settings, database access, secrets,
observability, errors, pagination and migrations. Imported as `shared`."""

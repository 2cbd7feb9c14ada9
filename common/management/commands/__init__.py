"""Management commands of the common app: `db_roles` (the app role's privileges)."""

"""Django management-command package of the tenants app (the commands are in `commands/`)."""

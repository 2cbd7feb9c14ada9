"""Django management-command package of the billing app (the commands are in `commands/`)."""

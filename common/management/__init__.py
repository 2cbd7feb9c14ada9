"""Django management-command package of the common app (the commands are in `commands/`)."""

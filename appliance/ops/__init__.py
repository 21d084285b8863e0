"""Running the box: staff accounts and sessions, the model manager, backups, health."""

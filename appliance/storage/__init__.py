"""SQLite: store.py holds every SQL statement as a named constant and the one write path; migrations.py the versioned schema."""

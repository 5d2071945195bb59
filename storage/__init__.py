"""SQLite persistence: schema, migrations and repositories. No SQL outside it."""

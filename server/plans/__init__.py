"""Plans: the rules (validation, what runs next, snapshots) and their execution."""

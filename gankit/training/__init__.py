"""training layer of gankit."""

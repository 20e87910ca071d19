"""core layer of gankit."""

"""apps layer of gankit."""

"""evaluation layer of gankit."""

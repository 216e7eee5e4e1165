"""Image updates: what the registry has that is not in service, and when updates run on their own."""

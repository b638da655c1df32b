"""Training: reproduces every shipped model from data (seeded, with progress output)."""

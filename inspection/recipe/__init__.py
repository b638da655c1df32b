"""Recipes: definition and preparation, tunable parameters, the catalog."""

"""Training recipes (TOML package data), read by ``models.recipe``."""

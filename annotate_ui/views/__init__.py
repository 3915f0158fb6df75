"""Blueprints of the labeling app, one per feature."""

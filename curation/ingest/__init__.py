"""Getting candidates into the workspace from local sources."""

"""The voice concern."""

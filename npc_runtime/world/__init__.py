"""The world concern."""

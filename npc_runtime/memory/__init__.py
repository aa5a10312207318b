"""The memory concern."""

"""ringctl/providers."""

"""ringctl/core."""

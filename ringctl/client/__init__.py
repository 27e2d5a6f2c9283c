"""ringctl/client."""

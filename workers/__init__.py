"""Process modules that the demo and the compose deployment load."""

"""How process authors write processes: `@process`, `BaseProcess` and friends."""

"""Workflows: OGC API - Processes - Part 3 nested processes, run on the counter join."""

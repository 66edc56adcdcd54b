"""Shims that let processes written for other frameworks run on fastproc unchanged."""

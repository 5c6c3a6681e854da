"""Toolforge-specific modules."""

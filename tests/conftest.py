"""Shared pytest setup. Helper-specific fixtures live in their own test modules."""

"""Use cases as plain functions. This is the only package that calls hooks."""

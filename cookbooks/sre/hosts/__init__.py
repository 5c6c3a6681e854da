"""Cookbooks that act on hosts."""

__title__ = "Host operations"

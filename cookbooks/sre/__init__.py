"""Cookbooks of the SRE team."""

__title__ = "SRE team cookbooks"
__owner_team__ = "SRE"

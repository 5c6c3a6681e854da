"""Example cookbooks: copy one as the template of your first cookbook."""

__title__ = "Example cookbooks, templates for a first cookbook"
__owner_team__ = "Spicerack maintainers"

from __future__ import annotations

from django import template

from generation import catalog

register = template.Library()


@register.filter
def model_label(model_id: str) -> str:
    """Return a model's name as the form shows it ("Flux 2 Max"); its id when the catalog lost it."""
    try:
        return catalog.load().get(model_id).label
    except catalog.UnknownModel:
        return model_id

"""Key forms: the key field is a password input that is never rendered back, not even on an error."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

import providers
from keys import services


def _key_field() -> forms.CharField:
    return forms.CharField(
        label=_("API key"),
        # Longer input is refused by the form, not truncated: a cut key would be a silently wrong key.
        max_length=services.MAX_KEY_LENGTH,
        widget=forms.PasswordInput(
            render_value=False,
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "autocorrect": "off",
            },
        ),
        help_text=_("Stored encrypted. After saving you will only ever see a hint such as sk-proj-…Ab3d."),
    )


class _LabelCheck(forms.Form):
    """Refuse a label that holds a key (services.label_problem), beside the field and without echoing it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound:
            # Mutable, so a key pasted into the label is not echoed back.
            self.data = cast(QueryDict, self.data).copy()

    def check_label(self, secret: str) -> None:
        # The raw value, not the cleaned one: a label too long for the field may still hold a key.
        name = self.add_prefix("label")
        problem = services.label_problem(str(self.data.get(name, "")), secret)
        if problem:
            cast(QueryDict, self.data)[name] = ""
            self.add_error("label", problem)


class AddKeyForm(_LabelCheck):
    provider = forms.ChoiceField(label=_("Provider"), choices=providers.choices)
    label = forms.CharField(
        label=_("Label"),
        max_length=100,
        required=False,
        help_text=_("A name you will recognise, e.g. “Client A – OpenAI”."),
    )
    api_key = _key_field()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        provider, secret = data.get("provider"), str(data.get("api_key") or "").strip()
        if provider and secret:
            problem = services.shape_problem(provider, secret)
            if problem:
                self.add_error("api_key", problem)
        self.check_label(secret)
        return data


class ReplaceKeyForm(_LabelCheck):
    api_key = _key_field()
    label = forms.CharField(
        label=_("Label"),
        max_length=100,
        required=False,
        help_text=_("Leave it as it is to keep the name; the history stays either way."),
    )

    def __init__(
        self, *args: Any, provider: str, usage: bool = False, label: str = "", **kwargs: Any
    ) -> None:
        # A label saved before labels were checked may hold a key: it is not offered back.
        initial = {"label": label if not services.label_problem(label) else ""}
        super().__init__(*args, initial=initial, **kwargs)
        self.provider = provider
        self.usage = usage
        self.fields["api_key"].label = _("New admin key") if usage else _("New API key")

    def clean_api_key(self) -> str:
        secret: str = self.cleaned_data["api_key"].strip()
        check = services.usage_shape_problem if self.usage else services.shape_problem
        problem = check(self.provider, secret)
        if problem:
            raise forms.ValidationError(problem)
        return secret

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        self.check_label(str(self.data.get(self.add_prefix("api_key")) or "").strip())
        return data


class AddUsageKeyForm(_LabelCheck):
    """A read-only usage key (an admin key) for reconciliation: a separate form, never a generation key."""

    provider = forms.ChoiceField(label=_("Provider"), choices=services.usage_providers)
    label = forms.CharField(
        label=_("Label"),
        max_length=100,
        required=False,
        help_text=_("A name you will recognise, e.g. “OpenAI organisation – usage”."),
    )
    api_key = _key_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "usage")
        super().__init__(*args, **kwargs)
        self.fields["api_key"].label = _("Admin key")
        kinds = "; ".join(
            f"{adapter.label}: {_(adapter.usage_key_description)}"
            for adapter in providers.all_adapters()
            if providers.Capability.USAGE_REPORT in adapter.capabilities
        )
        self.fields["api_key"].help_text = _(
            "%(kinds)s. Stored encrypted, used only to read usage reports, never to generate."
        ) % {"kinds": kinds}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        provider, secret = data.get("provider"), str(data.get("api_key") or "").strip()
        if provider and secret:
            problem = services.usage_shape_problem(provider, secret)
            if problem:
                self.add_error("api_key", problem)
        self.check_label(secret)
        return data

"""Key forms: the key field is a password input that is never rendered back, not even on an error."""

from __future__ import annotations

from typing import Any

from django import forms
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


class AddKeyForm(forms.Form):
    provider = forms.ChoiceField(label=_("Provider"), choices=providers.choices)
    label = forms.CharField(
        label=_("Label"),
        max_length=100,
        required=False,
        help_text=_("A name you will recognise, e.g. “Client A – OpenAI”."),
    )
    api_key = _key_field()
    # Narrower than Form's Mapping: request.POST or Django's empty MultiValueDict, both dicts; clean()
    # writes to the copy made in __init__.
    data: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.is_bound:
            self.data = self.data.copy()  # mutable, so a key pasted into the label is not echoed back

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        provider, secret = data.get("provider"), (data.get("api_key") or "").strip()
        if provider and secret:
            problem = services.shape_problem(provider, secret)
            if problem:
                self.add_error("api_key", problem)
        problem = services.label_problem(self.data.get("label", ""), secret)
        if problem:
            self.data["label"] = ""
            self.add_error("label", problem)
        return data


class ReplaceKeyForm(forms.Form):
    api_key = _key_field()

    def __init__(self, *args: Any, provider: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.fields["api_key"].label = _("New API key")

    def clean_api_key(self) -> str:
        secret: str = self.cleaned_data["api_key"].strip()
        problem = services.shape_problem(self.provider, secret)
        if problem:
            raise forms.ValidationError(problem)
        return secret

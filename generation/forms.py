from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

import providers
from generation import catalog
from generation.models import GeneratedImage, Persona, PersonaReference, UnavailableModel
from generation.money import from_usd
from keys.models import ProviderKey

if TYPE_CHECKING:
    # Generic in django-stubs only: Django's classes cannot be subscripted at run time.
    PersonaModelForm = forms.ModelForm[Persona]
    KeyChoiceFieldBase = forms.ModelChoiceField[ProviderKey]
else:
    PersonaModelForm = forms.ModelForm
    KeyChoiceFieldBase = forms.ModelChoiceField

QUALITY_LABELS = {"low": _("Low (fast, cheapest)"), "medium": _("Medium"), "high": _("High (best detail)")}
BACKGROUND_LABELS = {"auto": _("Automatic"), "opaque": _("Opaque"), "transparent": _("Transparent")}
SIZE_LABELS = {
    "1024x1024": _("Square 1024×1024"),
    "1536x1024": _("Landscape 1536×1024"),
    "1024x1536": _("Portrait 1024×1536"),
    "2048x2048": _("Large square 2048×2048"),
    "768x1024": _("Portrait 4:3 768×1024"),
    "1024x768": _("Landscape 4:3 1024×768"),
    "576x1024": _("Portrait 16:9 576×1024"),
    "1024x576": _("Landscape 16:9 1024×576"),
}


class KeyChoiceField(KeyChoiceFieldBase):
    """A workspace's provider key, offered by its label and hint."""

    def label_from_instance(self, obj: ProviderKey) -> str:
        return f"{obj.label} ({obj.hint})"


# Sent beside the previews checkbox, so that "not ticked" can be told from "not on the page".
PREVIEWS_SHOWN = "previews_shown"


def with_previews_default(data: QueryDict) -> QueryDict:
    """Return the form's data as re-rendered after a change (GET): previews ticked when the page had no
    checkbox (another provider's model was chosen), as on a new form."""
    if PREVIEWS_SHOWN in data:
        return data
    data = data.copy()
    data["previews"] = "on"
    return data


class GenerateForm(forms.Form):
    """Validation of a generation request against the catalog and the workspace's keys."""

    persona = forms.ModelChoiceField(
        queryset=Persona.objects.none(), required=False, label=_("Persona"), to_field_name="code"
    )
    prompt = forms.CharField(
        label=_("Prompt"),
        max_length=32000,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "Built from the persona; edit it freely before generating. It is sent as written, in any language; "
            "image models follow English most closely."
        ),
    )
    model = forms.ChoiceField(label=_("Model"))
    # Public codes, never primary keys: the htmx quote and options requests put the form in the URL.
    provider_key = KeyChoiceField(
        queryset=ProviderKey.objects.none(),
        label=_("API key"),
        empty_label=None,
        required=False,
        to_field_name="code",
    )
    size = forms.ChoiceField(label=_("Size"))
    quality = forms.ChoiceField(label=_("Quality"), required=False)
    background = forms.ChoiceField(label=_("Background"), required=False)
    n = forms.TypedChoiceField(
        label=_("Number of images"), coerce=int, choices=[(i, str(i)) for i in range(1, 5)], initial=1
    )
    # Offered only for models whose provider streams partial images (generation.previews.offered).
    previews = forms.BooleanField(label=_("Show previews while drawing"), required=False, initial=True)
    # References (issue 19): the persona's photos, and "more like this" from one of its avatars.
    references = forms.MultipleChoiceField(
        label=_("Use this persona's reference photos"),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "reference-choice"}),
        help_text=_("The provider draws the same person as in the photos you tick."),
    )
    like = forms.UUIDField(required=False, widget=forms.HiddenInput)
    change = forms.ChoiceField(
        label=_("What changes"),
        required=False,
        choices=[
            ("", _("Nothing in particular")),
            ("pose", _("Pose")),
            ("expression", _("Expression")),
            ("outfit", _("Outfit")),
            ("background", _("Background")),
        ],
    )
    change_detail = forms.CharField(
        label=_("Describe the change"),
        required=False,
        max_length=300,
        help_text=_("e.g. “arms crossed, looking to the side”. Added to the end of the prompt."),
    )

    def __init__(self, *args: Any, workspace: Any, keys: list[ProviderKey], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        self._offer_references()
        self.keys = keys
        self.providers = {key.provider for key in keys}
        unavailable = set(
            UnavailableModel.objects.filter(workspace=workspace).values_list("model", flat=True)
        )
        self.models = catalog.load().offered(self.providers, unavailable=unavailable)
        # self.fields holds copies of the fields declared above: each of the type declared.
        persona = cast("forms.ModelChoiceField[Persona]", self.fields["persona"])
        persona.queryset = Persona.objects.for_workspace(workspace)
        self._choice("model").choices = [(m.id, self._model_label(m)) for m in self.models]
        model = self.selected_model()
        self.model_keys = self._offer_keys(model)
        sizes = model.sizes if model else ()
        self._choice("size").choices = [(s, SIZE_LABELS.get(s, s)) for s in sizes]
        qualities = model.qualities if model else ()
        self._choice("quality").choices = [(q, QUALITY_LABELS.get(q, q)) for q in qualities]
        backgrounds = model.backgrounds if model else ()
        self._choice("background").choices = [(b, BACKGROUND_LABELS.get(b, b)) for b in backgrounds]
        # A model without qualities or backgrounds (Flux): ignore what a request sends for them (clean()
        # blanks them), rather than refuse it with an error on a field the page does not show.
        if model and not qualities:
            del self.fields["quality"]
        if model and not backgrounds:
            del self.fields["background"]
        if model and not self.is_bound:
            self.initial.setdefault("size", sizes[0] if sizes else "")
            self.initial.setdefault("quality", "medium" if "medium" in qualities else "")
            self.initial.setdefault("background", "auto" if backgrounds else "")

    def chosen_persona(self) -> Persona | None:
        """Return the persona in the data (or the initial values), within the workspace, or None."""
        value = self.data.get("persona") if self.is_bound else self.initial.get("persona")
        if isinstance(value, Persona):
            return value if value.workspace_id == self.workspace.pk else None
        try:
            return Persona.objects.for_workspace(self.workspace).filter(code=value).first() if value else None
        except (ValueError, ValidationError):
            return None

    def like_image(self) -> GeneratedImage | None:
        """Return the avatar "more like this" starts from, within the workspace, or None (looked up once:
        clean(), the quote and the page all ask)."""
        if not hasattr(self, "_like_image"):
            value = self.data.get("like") if self.is_bound else self.initial.get("like")
            try:
                found = (
                    GeneratedImage.objects.for_workspace(self.workspace).filter(code=value).first()
                    if value
                    else None
                )
            except (ValueError, ValidationError):
                found = None
            self._like_image = found
        return self._like_image

    def _offer_references(self) -> None:
        persona = self.chosen_persona()
        self.persona_references = list(persona.references.all()) if persona else []
        field = self._choice("references")
        field.choices = [
            (str(ref.code), format_html("<bdi>{}</bdi> ({}×{})", ref.original_name, ref.width, ref.height))
            for ref in self.persona_references
        ]

    def chosen_references(self) -> list[PersonaReference | GeneratedImage]:
        """Return the references the data asks for (the avatar of "more like this" first), unvalidated."""
        chosen: list[PersonaReference | GeneratedImage] = []
        if (image := self.like_image()) is not None:
            chosen.append(image)
        data = cast(QueryDict, self.data)
        wanted = data.getlist("references") if self.is_bound else self.initial.get("references", [])
        chosen += [ref for ref in self.persona_references if str(ref.code) in wanted]
        return chosen

    def _offer_keys(self, model: catalog.Model | None) -> list[ProviderKey]:
        """Offer only the keys of the chosen model's provider, and return them.

        The model's htmx request re-renders this list; without JavaScript the server refuses a key of
        another provider in clean(), never swapping it for another one.
        """
        model_keys = [key for key in self.keys if model is not None and key.provider == model.provider]
        provider_key = cast(KeyChoiceField, self.fields["provider_key"])
        provider_key.queryset = ProviderKey.objects.filter(pk__in=[k.pk for k in self.keys])
        provider_key.choices = [(k.code, provider_key.label_from_instance(k)) for k in model_keys]
        return model_keys

    def _choice(self, name: str) -> forms.ChoiceField:
        return cast(forms.ChoiceField, self.fields[name])

    @staticmethod
    def _model_label(model: catalog.Model) -> str:
        return f"{model.label} — {providers.get(model.provider).label}"

    def selected_model(self) -> catalog.Model | None:
        """Return the model chosen in the data (or the default), so its sizes can be offered."""
        chosen = self.data.get("model") if self.is_bound else self.initial.get("model")
        by_id = {m.id: m for m in self.models}
        if chosen in by_id:
            return by_id[chosen]
        for provider in providers.names():
            offered = [m for m in self.models if m.provider == provider]
            if offered:
                return next((m for m in offered if m.default), offered[0])
        return None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        model = self.selected_model()
        if model is None:
            raise forms.ValidationError(_("Add an API key first."))
        cleaned["model_info"] = model
        if not model.qualities:
            cleaned["quality"] = ""
        elif not cleaned.get("quality"):
            self.add_error("quality", _("Choose a quality."))
        if not model.backgrounds:
            cleaned["background"] = ""
        cleaned["provider_key"] = self._chosen_key(model, cleaned.get("provider_key"))
        if cleaned.get("like") and self.like_image() is None:
            self.add_error(None, _("The avatar to start from is gone. Choose another one."))
        cleaned["reference_objects"] = self.chosen_references()
        change, detail = cleaned.get("change"), (cleaned.get("change_detail") or "").strip()
        if change or detail:
            # In English whatever the page's language: it is part of the prompt the provider reads.
            sentence = "Keep the same person as in the reference image."
            sentence += f" Change the {change or 'picture'}: {detail or 'something new'}."
            cleaned["prompt"] = f"{cleaned.get('prompt', '').rstrip()} {sentence}"
        return cleaned

    def _chosen_key(self, model: catalog.Model, key: ProviderKey | None) -> ProviderKey | None:
        """Return the key the user chose, or the provider's only key when the form did not ask.

        Never another key than the one chosen: a key of another provider is an error on the key field.
        """
        provider = providers.get(model.provider).label
        if not self.model_keys:
            self.add_error("model", _("Add a key for this model's provider first."))
            return None
        if key is None and len(self.model_keys) == 1:
            return self.model_keys[0]  # the page shows no key list when there is one key: nothing to choose
        if key is None:
            self.add_error("provider_key", _("Choose which %(provider)s key pays.") % {"provider": provider})
        elif key.provider != model.provider:
            self.add_error(
                "provider_key",
                _(
                    "%(label)s is a key for %(theirs)s; %(model)s runs on %(provider)s. Choose one of its keys."
                )
                % {
                    "label": key.label,
                    "theirs": key.provider_label,
                    "model": model.label,
                    "provider": provider,
                },
            )
            return None
        return key


class PersonaForm(PersonaModelForm):
    """The structured description of a persona; the prompt is built from these fields."""

    class Meta:
        model = Persona
        fields = [
            "name",
            "role",
            "age_range",
            "gender_presentation",
            "art_style",
            "appearance",
            "expression",
            "clothing",
            "setting",
            "notes",
        ]
        widgets = {
            "appearance": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "name": _("For your team, e.g. “Budget-minded Ben”. The prompt mentions it too."),
            "role": _("e.g. “freelance graphic designer”, “retired teacher”."),
            "appearance": _("Hair, skin tone, build, glasses, distinguishing features."),
            "expression": _("e.g. “warm smile”, “focused”, “curious”."),
            "clothing": _("e.g. “denim jacket over a white T-shirt”."),
            "setting": _("e.g. “soft grey studio backdrop”, “busy café”."),
            "notes": _("Anything else the image should show; added to the end of the prompt."),
        }


class BudgetForm(forms.Form):
    """A monthly cap in USD; empty clears it."""

    monthly_cap_usd = forms.DecimalField(
        label=_("Monthly budget (USD)"),
        required=False,
        min_value=0,
        max_value=1_000_000,
        max_digits=10,
        decimal_places=2,
        help_text=_(
            "A hard cap per UTC month: a request whose price would pass it is refused before anything is "
            "sent to a provider. Leave empty for no cap."
        ),
    )

    def cap_nanousd(self) -> int | None:
        """Return the cap in nano-dollars (exact: the field allows cents only), or None for no cap."""
        value = self.cleaned_data["monthly_cap_usd"]
        return None if value is None else from_usd(value)


class LimitForm(forms.Form):
    """A member's or a key's monthly limit in USD; empty clears it. `prefix` keeps each row's ids apart."""

    limit_usd = forms.DecimalField(
        label=_("Monthly limit (USD)"),
        required=False,
        min_value=0,
        max_value=1_000_000,
        max_digits=10,
        decimal_places=2,
    )

    def cap_nanousd(self) -> int | None:
        """Return the limit in nano-dollars, or None for no limit."""
        value = self.cleaned_data["limit_usd"]
        return None if value is None else from_usd(value)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """One or more files; each is checked by the form (generation.references), not here."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        files = data if isinstance(data, (list, tuple)) else [data]
        return [single(f, initial) for f in files if f is not None] or [single(None, initial)]


class ReferenceUploadForm(forms.Form):
    """Reference photos for a persona: each checked, cleaned and re-encoded (generation.references)."""

    photos = MultipleFileField(
        label=_("Reference photos"),
        help_text=_("JPEG, PNG or WebP; at most 20 MB and 40 megapixels each, and 4 per persona."),
    )
    consent = forms.BooleanField(
        label=_(
            "I may use these photos: they show me, or the person shown has agreed to their use for avatars."
        ),
        error_messages={"required": _("Confirm that you may use these photos.")},
    )

    def __init__(self, *args: Any, room: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.room = room  # how many more the persona can take
        self.cleaned_photos: list[tuple[str, Any]] = []

    def clean_photos(self) -> list[Any]:
        from generation import references  # imports Pillow: only where uploads are checked

        files = self.cleaned_data["photos"]
        if len(files) > self.room:
            raise forms.ValidationError(
                _("A persona holds at most %(max)d reference photos; there is room for %(room)d more.")
                % {"max": references.MAX_REFERENCES, "room": self.room}
            )
        errors, cleaned = [], []
        for upload in files:
            name = str(upload.name or "")[:255]
            if upload.size is not None and upload.size > references.MAX_UPLOAD_BYTES:
                errors.append(format_html("<bdi>{}</bdi>: {}", name, _("The file is larger than 20 MB.")))
                continue
            try:
                cleaned.append((name, references.clean_upload(upload.read())))
            except references.ReferenceRejected as exc:
                errors.append(format_html("<bdi>{}</bdi>: {}", name, str(exc)))
        if errors:
            raise forms.ValidationError(errors)  # nothing is stored when any file is refused
        self.cleaned_photos = cleaned
        return list(files)

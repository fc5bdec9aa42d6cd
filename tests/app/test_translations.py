"""The Arabic catalogue is complete and safe (issue 18): every message has a translation, none breaks a
placeholder, and the compiled catalogue is the one Django uses.

Completeness is checked against the source as it is now, not against the .po: `makemessages` runs with
the repository's own flags (Makefile "makemessages") on a copy of the tree in a temporary folder, so the
test never touches locale/. A string someone marked for translation without updating the .po fails here
with its msgid. README "Translations" says how to fix that; docs/glossary.md which words to use.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation
from django.utils.translation import gettext, ngettext

from generation import pipeline, stored_text
from generation.reconciliation import texts as reconciliation
from generation.templatetags.stored_text import price_unit
from keys import services as vault
from providers import openai_images
from providers.adapters import openai
from providers.base import ErrorKind, ProviderError
from providers.sentences import COUNT, Plural

LANGUAGE = "ar"
PO_FILE = settings.BASE_DIR / "locale" / LANGUAGE / "LC_MESSAGES" / "django.po"
MO_FILE = PO_FILE.with_suffix(".mo")
# The folders makemessages leaves out; Makefile "makemessages" passes the same (checked below).
IGNORED = (".venv", "tests", "bench", "provider_double", "node_modules", "var", "staticfiles", "build")
# Never copied for the extraction: no source there, or the catalogue under test itself.
NOT_COPIED = shutil.ignore_patterns(
    *IGNORED, ".git", "locale", "media", "test-artifacts", ".hypothesis", "*.mo", "__pycache__", ".*_cache"
)

# %(name)s, %s, %d, %.2f and %%: only in messages flagged python-format (elsewhere "%" is plain text).
PYTHON_FORMAT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrs%]")
BRACE_FORMAT = re.compile(r"\{\w*\}")  # {n}, {total}: replaced by the app's JavaScript or str.format
HTML = re.compile(r"</?[a-zA-Z][^>]*>|&#?\w+;")


def extract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """Return every message now marked for translation in the source (a fresh, untranslated ar catalogue)."""
    if not shutil.which("xgettext") or not shutil.which("msgmerge"):
        pytest.fail(
            "GNU gettext (xgettext, msgmerge) is needed to extract the messages: apt-get install gettext"
        )
    tree = tmp_path / "tree"
    shutil.copytree(settings.BASE_DIR, tree, ignore=NOT_COPIED)
    (tree / "locale").mkdir()
    monkeypatch.chdir(tree)
    with override_settings(LOCALE_PATHS=[]):  # makemessages then writes only to ./locale, in the copy
        call_command(
            "makemessages",
            locale=[LANGUAGE],
            domain="django",
            ignore_patterns=list(IGNORED),
            no_obsolete=True,
            no_location=True,
            no_wrap=True,
            verbosity=0,
        )
    with open(tree / "locale" / LANGUAGE / "LC_MESSAGES" / "django.po", "rb") as po:
        return read_po(po, locale=LANGUAGE)


def arabic() -> Catalog:
    with open(PO_FILE, "rb") as po:
        return read_po(po, locale=LANGUAGE)


def forms(message: Message) -> tuple[str, ...]:
    """The translation's forms: one, or six for a plural message (Babel's .mo reader gives lists)."""
    return tuple(message.string) if isinstance(message.string, list | tuple) else (message.string,)


def ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, list | tuple) else (message.id,)


def placeholders(text: str, python_format: bool) -> Counter[str]:
    found = BRACE_FORMAT.findall(text) + HTML.findall(text)
    if python_format:
        found += PYTHON_FORMAT.findall(text)
    return Counter(found)


def placeholder_problems(message: Message) -> list[str]:
    """Every translation (each plural form) must carry the English text's placeholders, tags and entities.

    A plural form takes the plural msgid's set or the singular's. Arabic's forms for one and two (1 and 2)
    may also leave out the number, which "صورة واحدة" and "صورتان" carry: one python-format placeholder, or
    the `{n}` of a stored sentence with a count (providers/sentences.py `Plural`).
    """
    python_format = "python-format" in message.flags
    english = [placeholders(text, python_format) for text in ids(message)]
    problems = []
    for index, text in enumerate(forms(message)):
        found = placeholders(text, python_format)
        allowed = list(english)
        if len(english) > 1 and index in (1, 2):
            allowed += [
                english[-1] - Counter([p])
                for p in english[-1]
                if PYTHON_FORMAT.fullmatch(p) or p == f"{{{COUNT}}}"
            ]
        if found not in allowed:
            want = " or ".join(repr(sorted(c.elements())) for c in allowed)
            problems.append(f"{ids(message)[0]!r} form {index}: {sorted(found.elements())}, want {want}")
    return problems


def test_every_message_in_the_source_has_an_arabic_translation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = extract(tmp_path, monkeypatch)
    catalogue = arabic()
    assert catalogue.num_plurals == 6, "the Arabic catalogue's header must declare six plural forms"
    gaps = []
    for message in source:
        if not message.id:
            continue
        translated = catalogue.get(message.id, context=message.context)
        if translated is None:
            gaps.append(f"missing: {ids(message)[0]!r}")
        elif translated.fuzzy:
            gaps.append(f"fuzzy: {ids(message)[0]!r}")
        elif len(forms(translated)) != (6 if message.pluralizable else 1) or not all(forms(translated)):
            gaps.append(f"empty or incomplete: {ids(message)[0]!r}")
    assert len(source) > 500, "the extraction found too few messages; is makemessages ignoring the source?"
    assert not gaps, (
        f"{len(gaps)} message(s) lack an Arabic translation; update {PO_FILE.relative_to(settings.BASE_DIR)}"
        " (README 'Translations'):\n" + "\n".join(gaps)
    )


def test_no_translation_breaks_a_placeholder_a_tag_or_an_entity() -> None:
    problems = [problem for message in arabic() if message.id for problem in placeholder_problems(message)]
    assert not problems, "placeholders differ from the English text:\n" + "\n".join(problems)


def test_the_placeholder_check_catches_a_broken_translation() -> None:
    # The checks above pass on the real catalogue; here they must fail on what a slip of the pen makes.
    def message(msgid: str | tuple[str, str], string: str | tuple[str, ...]) -> Message:
        return Message(msgid, string, flags=["python-format"])

    assert placeholder_problems(message("Hi %(name)s.", "مرحبًا %(nom)s."))
    assert placeholder_problems(message("%(pct)s%% used", "%(pct)s مُستخدَم"))
    assert placeholder_problems(message("Join <strong>%(name)s</strong>", "انضم إلى %(name)s"))
    assert placeholder_problems(Message("{n} of {total}", "{n} من {المجموع}"))
    plural = ("%(counter)s avatar", "%(counter)s avatars")
    good = (
        "%(counter)s صورة",
        "صورة واحدة",
        "صورتان",
        "%(counter)s صور",
        "%(counter)s صورة",
        "%(counter)s صورة",
    )
    assert not placeholder_problems(message(plural, good))
    assert placeholder_problems(message(plural, (*good[:3], "صور", *good[4:])))  # form 3 lost the number
    counted = Message(
        ("{n} request by {who}.", "{n} requests by {who}."),
        (
            "{n} طلب من {who}.",
            "طلب واحد من {who}.",
            "طلبان من {who}.",
            "{n} طلبات من {who}.",
            "{n} طلبًا من {who}.",
            "{n} طلب من {who}.",
        ),
    )
    assert not placeholder_problems(counted)
    assert placeholder_problems(
        Message(counted.id, ("طلب من {who}.", *counted.string[1:]))
    )  # form 0 lost {n}
    assert placeholder_problems(Message(counted.id, (*counted.string[:1], "طلب واحد.", *counted.string[2:])))


def test_the_compiled_catalogue_is_current_and_django_uses_it() -> None:
    stale = (
        f"{MO_FILE.relative_to(settings.BASE_DIR)} is missing or differs from the .po: run `make messages`"
    )
    assert MO_FILE.exists(), stale
    with open(MO_FILE, "rb") as mo:
        compiled = {(ids(m), m.context): forms(m) for m in read_mo(mo) if m.id}
    assert compiled == {(ids(m), m.context): forms(m) for m in arabic() if m.id and not m.fuzzy}, stale
    with translation.override(LANGUAGE):
        assert gettext("Gallery") == "المعرض"
        assert gettext("Monthly budget") == "الميزانية الشهرية"
        assert gettext("Invitation sent to %(email)s.") % {"email": "a@example.com"} == (
            "أُرسلت الدعوة إلى a@example.com."
        )
        # All six plural forms, chosen by the header's rule.
        counts = {
            n: ngettext("%(counter)s avatar", "%(counter)s avatars", n) % {"counter": n}
            for n in (0, 1, 2, 3, 11, 100)
        }
        assert counts == {
            0: "0 صورة رمزية",
            1: "صورة رمزية واحدة",
            2: "صورتان رمزيتان",
            3: "3 صور رمزية",
            11: "11 صورة رمزية",
            100: "100 صورة رمزية",
        }
        # Django's and allauth's own Arabic catalogues still apply to their strings.
        assert gettext("This field is required.") == "هذا الحقل مطلوب."
        assert gettext("Password Reset") == "إعادة تعيين كلمة المرور"


def test_makefile_extracts_with_the_same_flags_as_this_test() -> None:
    makefile = (settings.BASE_DIR / "Makefile").read_text()
    line = next(line for line in makefile.splitlines() if line.startswith("MAKEMESSAGES_FLAGS"))
    for flag in ("--no-obsolete", "--no-location", "--no-wrap", *(f"--ignore={name}" for name in IGNORED)):
        assert flag in line.split(), f"Makefile MAKEMESSAGES_FLAGS lacks {flag}"


def test_no_translation_hides_a_direction_mark() -> None:
    # Right-to-left layout comes from the page's dir attribute and the stylesheet, never from invisible
    # characters inside a translation (they would also break the placeholder and search checks).
    marks = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
    hidden = [ids(m)[0] for m in arabic() if m.id and any(marks.search(text) for text in forms(m))]
    assert not hidden, f"direction marks in: {hidden}"


def test_sentences_stored_in_english_are_shown_translated() -> None:
    # A possibly charged generation's message joins three stored sentences; a cancelled one carries the
    # provider's name. Shown in Arabic, every sentence is translated and the values stay; in English the
    # text is left exactly as stored.
    error = ProviderError(ErrorKind.TIMEOUT, "read timeout")
    joined = f"{error.user_message} {openai.UNANSWERED_REASON} {pipeline.NOT_SENT_AGAIN}"
    late = pipeline.LATE_ANSWER_MESSAGE.format(provider="fal.ai")
    partly = pipeline.CANCELLED_PARTLY.format(made=2, n=4)
    assert stored_text.translate(joined) == joined
    with translation.override(LANGUAGE):
        shown = stored_text.translate(joined)
        assert shown == " ".join(
            [gettext(error.user_message), gettext(openai.UNANSWERED_REASON), gettext(pipeline.NOT_SENT_AGAIN)]
        )
        assert not re.search("[A-Za-z]{3,}", shown.replace("OpenAI", "")), shown
        assert stored_text.translate(late) == gettext(pipeline.LATE_ANSWER_MESSAGE).format(provider="fal.ai")
        assert "fal.ai" in stored_text.translate(late)
        assert stored_text.translate(partly) == "صُنعت 2 من 4 صور قبل الإلغاء واحتُسبت رسومها؛ وأُلغي الباقي."
        assert stored_text.translate("Something no one wrote here.") == "Something no one wrote here."
        # Every sentence the pipeline stores has its translation (else it would show in English), a
        # sentence with a count in every plural form.
        untranslated = [
            s
            for s in stored_text.sentences()
            if (
                any(ngettext(s.one, s.many, n) in (s.one, s.many) for n in (0, 1, 2, 3, 11, 100))
                if isinstance(s, Plural)
                else gettext(s) == s
            )
        ]
        assert untranslated == []


def test_a_stored_sentence_with_a_count_is_shown_in_the_count_plural_form() -> None:
    # A reconciliation's summary: counts stored in English grammar ("1 UTC day", "3 records"), shown in
    # Arabic's form for each count (one, two, 3-10, 11-99); English is left as stored.
    def summary(days: int, unknown: int) -> str:
        days_part = reconciliation.SUMMARY_DAYS.format(days, ours="$1,234.50", theirs="$0.04")
        return f"{days_part} {reconciliation.SUMMARY_UNKNOWN.format(unknown)}"

    assert summary(1, 3) == "1 UTC day: ours $1,234.50, theirs $0.04. 3 records of unknown amount."
    assert stored_text.translate(summary(1, 3)) == summary(1, 3)
    with translation.override(LANGUAGE):
        assert stored_text.translate(summary(1, 3)) == (
            "يوم واحد (UTC): لدينا $1,234.50، ولدى المزوّد $0.04. 3 سجلات بمبلغ غير معروف."
        )
        assert stored_text.translate(summary(2, 11)) == (
            "يومان (UTC): لدينا $1,234.50، ولدى المزوّد $0.04. 11 سجلًا بمبلغ غير معروف."
        )
        # An amount before a full stop is the whole amount, wherever the translation puts it.
        resolved = reconciliation.RESOLVED_NOT_BILLED.format(amount="$0.00")
        assert stored_text.translate(resolved) == "حُسم المبلغ: لم يُفوتَر ($0.00)."
        # fal's price unit, after "per"; a unit the catalogue does not know stays as the provider wrote it.
        assert (price_unit("megapixels"), price_unit("tokens")) == ("ميغابكسل", "tokens")
        # A list of amounts is one value; the English of an unknown sentence stays.
        price = reconciliation.PRICE_CHANGE.format(amounts_list="$0.03, $0.035", catalog="$0.03")
        assert stored_text.translate(f"{price} Something else.") == (
            "تغيّر في السعر: فوتر fal $0.03, $0.035 لكل ميغابكسل في هذا اليوم؛ وتذكر قائمة الأسعار $0.03. "
            "Something else."
        )


def test_a_value_in_a_stored_sentence_is_one_word() -> None:
    # A sentence after another: the provider's name is the word before "answered", not the text before it.
    note = pipeline.LATE_REFUSAL_NOTE.format(provider="fal.ai")
    with translation.override(LANGUAGE):
        shown = stored_text.translate(f"{pipeline.CANCELLED_CHARGED} {note}")
        first, second = gettext(pipeline.CANCELLED_CHARGED), gettext(pipeline.LATE_REFUSAL_NOTE)
    assert shown == f"{first} {second.format(provider='fal.ai')}"


def test_a_keys_stored_notes_are_shown_translated() -> None:
    # A key saved while the provider could not be reached: the provider's sentence (with the error's kind)
    # and ours, stored together in English, both shown in Arabic; the same note is left alone in English.
    note = f"{openai_images.KEY_UNCHECKED.format(kind='timeout')} {vault.SAVED_UNVERIFIED}"
    assert vault.shown(note) == note
    with translation.override(LANGUAGE):
        expected = (
            f"{gettext(openai_images.KEY_UNCHECKED).format(kind='timeout')} {gettext(vault.SAVED_UNVERIFIED)}"
        )
        assert vault.shown(note) == expected
        assert vault.shown(vault.NO_FREE_CHECK.format(provider="fal.ai")).startswith("لا يتيح fal.ai")
        assert [s for s in vault.SENTENCES if gettext(s) == s] == []

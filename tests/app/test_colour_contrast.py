"""The colours in static/css/app.css meet WCAG 2.2 AA: 4.5:1 for text, 3:1 for the focus indicator,
in the light and in the dark colour scheme (each custom property is `light-dark(light, dark)`).

The stylesheet is read as it is (custom properties resolved), so that a colour edit which breaks a pair
fails here. An element's colours are taken from the rules that style it, merged in cascade order (the
selectors are listed from least to most specific): "Sign up free" was a `.button` whose white text the
more specific `.main-nav a` turned grey, 1.03:1 on purple.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from tests.support.contrast import contrast

CSS = Path(__file__).resolve().parents[2] / "static" / "css" / "app.css"
TEXT = 4.5  # WCAG 1.4.3, normal text
NON_TEXT = 3.0  # WCAG 1.4.11 and 2.4.13, focus indicators
HEX = r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b"
ONE = rf"{HEX}|var\(--[\w-]+\)"
COLOUR = re.compile(rf"light-dark\(\s*({ONE})\s*,\s*({ONE})\s*\)|{ONE}")
SCHEMES = ["light", "dark"]


@cache
def _rules() -> list[tuple[list[str], dict[str, str]]]:
    """Return each rule of the stylesheet (media queries included) as (selectors, declarations)."""
    text = re.sub(r"/\*.*?\*/", "", CSS.read_text(), flags=re.S)
    rules = []
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", text):
        declarations = {}
        for declaration in body.split(";"):
            name, _, value = declaration.partition(":")
            if value:
                declarations[name.strip()] = value.strip()
        rules.append(([s.strip() for s in " ".join(selectors.split()).split(",")], declarations))
    return rules


def _custom_properties() -> dict[str, str]:
    return {
        name: value for selectors, body in _rules() if ":root" in selectors for name, value in body.items()
    }


def _resolve(value: str, scheme: str = "light") -> str:
    """Return the hex colour a value names in a scheme, following var(--name) and light-dark() through :root."""
    found = COLOUR.search(value)
    assert found, f"no colour in {value!r}"
    colour = found.group()
    if colour.startswith("light-dark("):
        colour = found.group(1 if scheme == "light" else 2)
    if colour.startswith("var("):
        return _resolve(_custom_properties()[colour[4:-1]], scheme)
    return colour


def _style(*selectors: str) -> dict[str, str]:
    """Return the declarations an element matched by these selectors gets (least specific first)."""
    merged: dict[str, str] = {}
    for selector in selectors:
        # A selector without a rule adds nothing, as in a browser (an override deleted is tested too).
        for body in (body for names, body in _rules() if selector in names):
            merged.update(body)
    assert merged, f"app.css has no rule for any of {selectors}"
    return merged


def _colour(style: dict[str, str], *properties: str, scheme: str = "light") -> str:
    for name in properties:
        if name in style:
            return _resolve(style[name], scheme)
    raise AssertionError(f"none of {properties} in {style}")


def test_the_formula_gives_the_known_ratios():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#fff", "#fff") == pytest.approx(1)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    # The audit's figures for the colours it found.
    assert contrast("#5f6478", "#5b4bdb") == pytest.approx(1.03, abs=0.01)
    assert contrast("#17804b", "#e4f6ec") == pytest.approx(4.42, abs=0.01)
    assert contrast("#b3a9ff", "#ffffff") == pytest.approx(2.09, abs=0.01)


# (what, the text's rules, the background's rules), each list least specific first.
TEXT_PAIRS = [
    ("body text on the page", [":root"], [":root"]),
    ("muted text on the page", [".muted"], [":root"]),
    ("muted text on a card", [".muted"], [".card"]),
    ("table headings", ["th"], ["th"]),
    ("main button", [".button"], [".button"]),
    ("main button, hovered", [".button"], [".button", ".button:hover"]),
    ("Sign up free in the header", [".button", ".main-nav a", ".main-nav a.button"], [".button"]),
    (
        "Sign up free, hovered",
        [".button", ".main-nav a", ".main-nav a:hover", ".main-nav a.button", ".main-nav a.button:hover"],
        [".button", ".button:hover", ".main-nav a:hover", ".main-nav a.button:hover"],
    ),
    ("header links", [".main-nav a"], [".site-header"]),
    (
        "current page in the header",
        ['.main-nav a[aria-current="page"]'],
        ['.main-nav a[aria-current="page"]'],
    ),
    ("secondary button", [".button", ".button-secondary"], [".button", ".button-secondary"]),
    ("danger button", [".button"], [".button", ".button-danger"]),
    ("links on a card", ["a"], [".card"]),
    ("links on the page", ["a"], [":root"]),
    ("link buttons (Log out) in the account menu", [".link-button"], [".user-menu .menu"]),
    ("menu button on the header", [".js .menu-toggle"], [".js .menu-toggle"]),
    ("input text", ["input[type=text]"], ["input[type=text]"]),
    ("skip link", [".skip-link"], [".skip-link"]),
    ("muted text on a soft primary banner", [".muted"], [".message-info"]),
    ("field errors in the error summary", [".form-errors p"], [".form-errors"]),
    ("badge", [".badge"], [".badge"]),
    ("Succeeded and Valid badges", [".badge", ".badge-succeeded"], [".badge", ".badge-succeeded"]),
    ("Running and Unverified badges", [".badge", ".badge-running"], [".badge", ".badge-running"]),
    ("Failed and Invalid badges", [".badge", ".badge-failed"], [".badge", ".badge-failed"]),
]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("what", "text", "background"), TEXT_PAIRS, ids=[p[0] for p in TEXT_PAIRS])
def test_text_meets_aa(what, text, background, scheme):
    foreground = _colour(_style(*text), "color", scheme=scheme)
    behind = _colour(_style(*background), "background", "background-color", scheme=scheme)
    ratio = contrast(foreground, behind)
    assert ratio >= TEXT, f"{what} ({scheme}): {foreground} on {behind} is {ratio:.2f}:1, below {TEXT}:1"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("background", [":root", ".card", ".site-header"])
def test_the_focus_ring_stands_out(background, scheme):
    ring = _colour(_style("a:focus-visible"), "outline", scheme=scheme)
    for selector in ("input:focus", "button:focus-visible", ".button:focus-visible", "summary:focus-visible"):
        assert _colour(_style(selector), "outline", scheme=scheme) == ring
    behind = _colour(_style(background), "background", "background-color", scheme=scheme)
    ratio = contrast(ring, behind)
    assert ratio >= NON_TEXT, f"focus ring {ring} on {behind} is {ratio:.2f}:1, below {NON_TEXT}:1"


def test_the_dark_scheme_is_dark():
    assert contrast(_resolve("var(--bg)", "dark"), "#000000") < 1.5
    assert contrast(_resolve("var(--text)", "dark"), "#ffffff") < 1.5


def test_every_colour_is_a_custom_property_of_both_schemes():
    """A colour written into a rule would look the same in both schemes: only :root names colours."""
    for selectors, body in _rules():
        for name, value in body.items():
            if ":root" in selectors and name.startswith("--") and re.search(HEX, value):
                # A colour that differs between schemes is light-dark(); the same in both is allowed
                # only for what sits on a fixed background (the primary and danger buttons).
                assert value.startswith("light-dark(") or name in FIXED, f"{name}: {value}"
            elif ":root" not in selectors:
                assert not re.search(HEX, value), f"{selectors} {name}: {value} (use a custom property)"


FIXED = {"--primary", "--primary-dark", "--on-primary", "--danger", "--danger-dark", "--qr-paper"}

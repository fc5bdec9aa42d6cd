"""The project's own docs stay whole: sections that code cites exist, and links stay inside the repo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SKIPPED_DIRS = {".git", ".venv", "var", "node_modules", "staticfiles", "__pycache__", ".mypy_cache"}


def _sections() -> list[int]:
    return [int(n) for n in re.findall(r"^## (\d+)\. ", ARCHITECTURE.read_text(), re.MULTILINE)]


def _repo_text_files() -> list[Path]:
    files = []
    for path in ROOT.rglob("*"):
        if SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
            continue
        if path.suffix in {".py", ".md", ".toml", ".html", ".yml", ".txt"} and path.is_file():
            files.append(path)
    return files


def test_architecture_keeps_the_design_s_section_numbers():
    # Comments cite "architecture.md §5"; renumbering would silently point them elsewhere.
    assert _sections() == list(range(1, 12))


def test_every_cited_architecture_section_exists():
    sections = set(_sections())
    for path in _repo_text_files():
        for cited in re.findall(r"architecture(?:\.md)? §(\d+)", path.read_text(errors="replace")):
            assert int(cited) in sections, f"{path.relative_to(ROOT)} cites §{cited}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_point_at_files_in_the_repository(doc):
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert path.exists(), f"{doc.name} links to a missing file: {target}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_do_not_send_readers_outside_the_repository(doc):
    text = doc.read_text()
    for outside in ("../shared", "DESIGN.md", "PROVIDERS.md", "STYLE.md"):
        assert outside not in text, f"{doc.name} mentions {outside}"

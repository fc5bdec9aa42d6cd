from __future__ import annotations

from pathlib import Path

import pytest

from accounts.models import User, Workspace
from generation.models import Persona
from tests.conftest import workspace_of
from tests.generation.factories import make_persona


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """Keep every file a test stores in its own temporary directory."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def workspace(alice: User) -> Workspace:
    return workspace_of(alice)


@pytest.fixture
def persona(alice: User, workspace: Workspace) -> Persona:
    return make_persona(workspace, alice)

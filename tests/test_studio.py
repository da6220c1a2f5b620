"""The Label Studio round trip against a real server (marker `studio`)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.studio


def test_server_answers_and_project_exists(studio):
    api = studio.api()
    assert api.get("/health") is not None
    project = api.find_project(studio.project)
    assert project is not None

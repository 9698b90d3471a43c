"""Shared fixtures for every test layer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examgate.core.codec import EventCodec
from examgate.core.events import camera, checkin, inline_frame
from examgate.core.settings import Settings, load_settings


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """The settings of a running local stack; ``stack up`` is idempotent, so this is cheap."""
    from devstack import up

    settings = load_settings()
    up(settings)
    yield settings


@pytest.fixture(scope="session")
def codec() -> EventCodec:
    """The event codec over the repository's schemas."""
    return EventCodec()


@pytest.fixture
def sample_checkin() -> dict:
    """A valid CheckIn record with a tiny inline frame."""
    return checkin(gate_id="gate-1", exam_id="exam-42", claimed_student_id="s-001",
                   frame=inline_frame(b"\xff\xd8\xff fake jpeg"),
                   camera_meta=camera("cam-1", 640, 480))

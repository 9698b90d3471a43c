"""Fixtures of the API's unit tests (defined in api_world.py, which the tests also import)."""

from api_world import settings, world  # noqa: F401 - pytest finds fixtures by name

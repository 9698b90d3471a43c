"""Seeded burst instruments: a live student or a presentation attack, as the gate camera sees it.

The gate sends a primary frame and a short burst (four more frames over about half a
second). :func:`render_burst` renders such a burst for one instrument, from a
student's LFW-style photo:

    >>> frames = render_burst("phone_replay", photo, np.random.default_rng(7),
    ...                       params={"bezel_visible": False})

``bona_fide`` is the student in person; the others are attacks made from the
enrollment photo, grouped by ISO/IEC 30107-3 attack type in :data:`ATTACK_FAMILY`.
Every instrument also takes the camera parameters of :class:`CameraParams`.
"""

from __future__ import annotations

# Importing the modules registers their instruments.
from examgate.augment import bursts_live, bursts_print, bursts_screen
from examgate.augment.bursts_base import (
    ATTACK_FAMILY,
    BURSTS,
    BurstSpec,
    CameraParams,
    UnknownBurstError,
    burst_names,
    get_burst,
    render_burst,
)

__all__ = ["ATTACK_FAMILY", "BURSTS", "BurstSpec", "CameraParams", "UnknownBurstError",
           "burst_names", "bursts_live", "bursts_print", "bursts_screen",
           "get_burst", "render_burst"]

"""Leading-edge pacing: let something go out at once after a quiet spell, then at most once per
window while more keeps coming. Pure: the caller passes the time (any monotonic clock, seconds).

Used for document updates (`HeldDocument`: a burst of edits costs one message per window, the
updates held meanwhile coalesce in each `SyncSession`) and for our own presence
(`PresenceThrottle`: latest wins)."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_SEND_WINDOW", "SendPacer"]

# A person types a key every 50 ms or more, so keystrokes never wait; a burst (a paste, a
# script, a replay at machine speed) goes out as one message per millisecond. Measured:
# framing and writing a message costs the sender more than the edit itself.
DEFAULT_SEND_WINDOW: Final = 0.001


class SendPacer:
    """When the next send may happen: at once if nothing was sent within `window` seconds,
    else when the window since the last send has passed."""

    def __init__(self, window: float = DEFAULT_SEND_WINDOW) -> None:
        if window < 0:
            raise ValueError(f"the send window must not be negative, got {window}")
        self.window = window
        self._last_sent: float | None = None

    @property
    def next_allowed(self) -> float | None:
        """The earliest time of the next send; None if nothing was sent yet (at once)."""
        return None if self._last_sent is None else self._last_sent + self.window

    def delay(self, now: float) -> float:
        """Seconds to wait before sending, from `now`."""
        allowed = self.next_allowed
        return 0.0 if allowed is None else max(0.0, allowed - now)

    def sent(self, now: float) -> None:
        """Something went out at `now`."""
        self._last_sent = now

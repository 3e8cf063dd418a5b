"""SendPacer: at once after a quiet spell, then at most once per window."""

from __future__ import annotations

import pytest

from editor.core.pacing import SendPacer


def test_pacer_lets_the_first_message_go_at_once_and_spaces_a_burst():
    pacer = SendPacer(window=0.001)
    assert pacer.next_allowed is None
    assert pacer.delay(100.0) == 0.0  # nothing sent yet: no wait
    pacer.sent(100.0)
    assert pacer.next_allowed == pytest.approx(100.001)
    assert pacer.delay(100.0004) == pytest.approx(0.0006)
    assert pacer.delay(100.001) == 0.0
    assert pacer.delay(150.0) == 0.0  # after a quiet spell, at once again


def test_pacer_with_a_zero_window_never_delays():
    pacer = SendPacer(window=0.0)
    pacer.sent(5.0)
    assert pacer.delay(5.0) == 0.0


def test_pacer_refuses_a_negative_window():
    with pytest.raises(ValueError):
        SendPacer(window=-0.001)

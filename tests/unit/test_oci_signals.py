"""nsbox.oci.signals: runc kill's signal syntax."""

from __future__ import annotations

import signal

import pytest

from nsbox.oci import parse_signal, signal_name
from nsbox.oci.signals import SIGNALS


@pytest.mark.parametrize("text,number", [
    ("KILL", 9), ("SIGKILL", 9), ("9", 9), ("sigterm", 15), ("term", 15), ("SigHup", 1),
    ("RTMIN", 34), ("RTMIN+3", 37), ("SIGRTMIN+3", 37), ("rtmax", 64), ("SIGRTMAX-2", 62),
    ("0", 0), ("64", 64), ("WINCH", 28), (" usr1 ", 10),
])
def test_parse_signal(text, number):
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["", "FOO", "SIG", "-9", "65", "RTMIN+31", "RTMIN-1", "RTMAX+1",
                                  "RTMIN+", "9.0", "SIGKILLX", "IOT", "CLD", "POLL"])
def test_parse_signal_rejects(text):
    with pytest.raises(ValueError):
        parse_signal(text)


def test_table_matches_the_host_signal_numbers():
    for name, number in SIGNALS.items():
        assert getattr(signal, name) == number, name
    assert signal.SIGRTMIN == parse_signal("RTMIN")
    assert signal.SIGRTMAX == parse_signal("RTMAX")


@pytest.mark.parametrize("number,name", [(9, "SIGKILL"), (34, "SIGRTMIN"), (37, "SIGRTMIN+3"),
                                         (64, "SIGRTMAX"), (0, "signal 0")])
def test_signal_name(number, name):
    assert signal_name(number) == name
    if not name.startswith("signal "):
        assert parse_signal(name) == number

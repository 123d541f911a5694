"""Signal names <-> numbers, as `runc kill` accepts them.

runc takes a number ("9"), a name with or without the SIG prefix in any case ("KILL", "sigkill")
from Go's signal table (no aliases such as IOT or CLD).  nsbox also takes real-time signals
relative to SIGRTMIN/SIGRTMAX as kill(1), docker and crun do: "RTMIN", "RTMIN+3", "SIGRTMAX-2"
(runc 1.1 refuses those).  SIGRTMIN is glibc's 34, as Go and moby use.
"""

from __future__ import annotations

__all__ = ["SIGNALS", "SIGRTMIN", "SIGRTMAX", "parse_signal", "signal_name"]

# x86-64/aarch64 Linux numbering (the generic table; golang.org/x/sys/unix signalList).
SIGNALS: dict[str, int] = {
    "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGBUS": 7,
    "SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13,
    "SIGALRM": 14, "SIGTERM": 15, "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19,
    "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25,
    "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29, "SIGPWR": 30, "SIGSYS": 31,
}

SIGRTMIN = 34  # glibc reserves 32 and 33 for NPTL
SIGRTMAX = 64
_MAX_SIGNAL = SIGRTMAX


def _realtime(name: str) -> int | None:
    """'SIGRTMIN', 'SIGRTMIN+3', 'SIGRTMAX-1' -> number, None if not a real-time name."""
    for base_name, base, sign in (("SIGRTMIN", SIGRTMIN, 1), ("SIGRTMAX", SIGRTMAX, -1)):
        if not name.startswith(base_name):
            continue
        rest = name[len(base_name):]
        if rest == "":
            return base
        op, digits = rest[0], rest[1:]
        if digits.isdigit() and op == ("+" if sign > 0 else "-"):
            number = base + sign * int(digits)
            if SIGRTMIN <= number <= SIGRTMAX:
                return number
        return None
    return None


def parse_signal(text: str) -> int:
    """'KILL', 'SIGKILL', '9', 'sigterm', 'RTMIN+3' -> signal number; ValueError if unknown."""
    raw = text.strip() if isinstance(text, str) else ""
    if not raw:
        raise ValueError(f"invalid signal {text!r}")
    if raw.isdigit():
        number = int(raw)
        if number > _MAX_SIGNAL:
            raise ValueError(f"invalid signal {text!r}: out of range 0-{_MAX_SIGNAL}")
        return number
    name = raw.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    number = SIGNALS.get(name) or _realtime(name)
    if number is None:
        raise ValueError(f"unknown signal {text!r}")
    return number


def signal_name(number: int) -> str:
    """9 -> 'SIGKILL', 37 -> 'SIGRTMIN+3'; 'signal N' for numbers without a name."""
    for name, value in SIGNALS.items():
        if value == number:
            return name
    if number == SIGRTMIN:
        return "SIGRTMIN"
    if number == SIGRTMAX:
        return "SIGRTMAX"
    if SIGRTMIN < number < SIGRTMAX:
        return f"SIGRTMIN+{number - SIGRTMIN}"
    return f"signal {number}"

"""cgroup v2 device rules as a BPF_PROG_TYPE_CGROUP_DEVICE program (placeholder until implemented)."""

from __future__ import annotations

import logging

log = logging.getLogger("nsbox.cgroups")


def attach_device_filter(path: str, rules: list[dict]) -> None:
    log.warning("device rules are not enforced on cgroup v2 yet (%s)", path)

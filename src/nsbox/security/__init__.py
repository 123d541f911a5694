"""Process security for containers: capabilities, seccomp, no_new_privs, rlimits, user and groups.

Parent side: ``plan_security(config)`` / ``plan_exec_security(process, base_plan)`` turn an OCI config
into a JSON-able plan (seccomp compiled to BPF here). Child side: ``nsbox.security.apply``
(apply_early / finalize_process / install_late_seccomp) executes it.
"""

from .plan import plan_exec_security, plan_security

__all__ = ["plan_security", "plan_exec_security"]

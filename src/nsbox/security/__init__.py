"""Process security for containers: capabilities, seccomp, no_new_privs, rlimits, user and groups.

Parent side: ``plan.plan_security(config)`` turns an OCI config into a JSON-able plan (seccomp compiled
to BPF here). Child side: ``apply.apply_early / finalize_process / install_late_seccomp`` execute it.
"""

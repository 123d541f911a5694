"""Unit: the child side imports nothing at call time (it runs after pivot_root, where the host's
stdlib is gone): an audit hook records every import while a whole plan is applied in a child."""

import json
import os

from nsbox.security.plan import plan_security
from nsbox.security.seccomp_default import default_profile
from tests.fixtures.security_child import no_seccomp_cache  # noqa: F401  (autouse)
from tests.fixtures.security_child import run_in_child


def test_applying_a_plan_imports_nothing(cleanup):
    me = {"uid": os.getuid(), "gid": os.getgid(), "additionalGids": sorted(set(os.getgroups())), "umask": 0o027}
    plan = plan_security({"process": {"user": me, "noNewPrivileges": True,
                                      "rlimits": [{"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]},
                          "linux": {"seccomp": default_profile()}}, container_id="noimport")

    def body():
        import sys
        from nsbox.security import apply
        imported = []
        sys.addaudithook(lambda event, args: imported.append(args[0]) if event == "import" else None)
        apply.apply_early(plan)
        apply.finalize_process(plan)
        apply.install_late_seccomp(plan)
        os.write(1, json.dumps(imported).encode())
    code, out, err = run_in_child(body, cleanup=cleanup)
    assert code == 0, err.decode()
    assert json.loads(out) == []


def test_child_side_modules_import_only_stdlib_l0_and_errors():
    """Layering: apply.py (and what it pulls in) stays on stdlib + nsbox.linux + nsbox.errors."""
    import ast
    import nsbox.security.apply as apply_mod
    import nsbox.security.listener as listener_mod
    for mod in (apply_mod, listener_mod):
        tree = ast.parse(open(mod.__file__).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                if node.module is None:  # from . import x
                    # listener, or the jsoncodec leaf (json on the C _json: stdlib only, like errors)
                    assert all(a.name in ("listener", "jsoncodec") for a in node.names), \
                        (mod, [a.name for a in node.names])
                else:
                    assert node.module.split(".")[0] in ("errors", "linux"), (mod, node.module)

"""Control groups v1, v2 and hybrid: detection, OCI resource conversion, drivers, the manager.

Public entry point: ``nsbox.cgroups.manager.for_container(linux, container_id)``.
"""

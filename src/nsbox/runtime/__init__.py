"""The OCI runtime, parent side: plan, launch, and the container lifecycle (create/start/state/kill/delete)."""

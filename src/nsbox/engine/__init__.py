"""The front end (`nsbox run`): sensible defaults over the OCI runtime."""

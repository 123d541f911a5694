"""The container's root filesystem: mount operations planned in the parent, applied in the child."""

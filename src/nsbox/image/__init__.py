"""Root filesystems from archives: a rootfs tarball, an OCI image layout, an oci-archive.

    layer   unpack one tar stream into a directory without ever writing outside it (OCI whiteouts too)
    layout  read an OCI image layout (a directory or a tar of one): index, manifest, config, layers
    store   the unpacked cache: each tarball or image unpacked once, atomically
"""

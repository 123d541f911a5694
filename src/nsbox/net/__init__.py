"""Container networking for the front end (L2): named bridge networks, address leases, veth pairs,
nftables NAT and published ports, /etc/hosts and friends, rootless networking with pasta or
slirp4netns, and persistent network namespaces.

The entry points are ``nsbox.net.attach.attach`` / ``detach`` / ``cleanup_stale`` and
``nsbox.net.store.NetworkStore``. pyroute2 is imported lazily, only by the modules that talk
netlink, so importing this package costs nothing.
"""

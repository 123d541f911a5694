"""L0: thin syscall wrappers. One syscall, one function; failures raise OSError naming call and path.

No policy and no OCI types live here. Import the submodule you need (``nsbox.linux.mount``...).
"""

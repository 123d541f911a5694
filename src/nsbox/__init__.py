"""nsbox: Linux containers and namespaces, done properly, in Python.

Faces: ``nsbox.ns`` (namespace toolkit), ``nsbox.runtime`` (OCI runtime), the front end.
Submodules are imported on demand to keep start-up fast.
"""

__version__ = "0.1.0"

"""CDKTF constructs and stacks. Everything here imports CDKTF; nothing in tenantform/ imports this.

`__version__` is the tenant module's release; the module version tenants run is this release
plus a hash of the module's sources and pins (tenantform/module_version.py), so a code change
can never be served from a stale synthesis.
"""

__version__ = "1.0.0"

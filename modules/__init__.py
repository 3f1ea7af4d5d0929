"""CDKTF constructs and stacks. Everything here imports CDKTF; nothing in tenantform/ imports this.

`__version__` is the tenant module's release; the module version tenants run is this release
plus a hash of the module's sources and pins (tenantform/module_version.py), so a code change
can never be served from a stale synthesis.
"""

# 1.1.0: custom:tenant-id / custom:tier immutable and explicit client read/write attributes
# (replaces every tenant's user pool), catalogue entry carries api_key_id (for the authorizer).
__version__ = "1.1.0"

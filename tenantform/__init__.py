"""tenantform orchestration: tenants, names, workspace roots, targets and terraform runs.

This package never imports CDKTF: synthesis runs `main.py` in a child process, so that a
command that needs no synthesis (most onboardings, every fleet no-op) never pays for it.
"""

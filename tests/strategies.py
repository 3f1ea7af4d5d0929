"""Hypothesis strategies shared by the property-based tests."""

from __future__ import annotations

from hypothesis import strategies as st

from tenantform.errors import InvalidInput
from tenantform.tenant import validate_tenant_id


def _valid(value: str) -> bool:
    try:
        validate_tenant_id(value)
        return True
    except InvalidInput:
        return False


# Valid tenant ids: DNS-1123 labels that pass every tenantform rule.
tenant_ids = st.from_regex(r"[a-z]([-a-z0-9]{0,30}[a-z0-9])?", fullmatch=True).filter(_valid)

"""Names shared by the `platform` (AWS) and `platform-k8s` workspaces, without CDKTF imports.

The IRSA trust in `platform` and the service account in `platform-k8s` must agree on them;
importing this module costs nothing (no provider bindings).
"""

from __future__ import annotations

AUTOSCALER_NAMESPACE = "kube-system"
AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"

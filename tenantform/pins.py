"""Provider requirements written into every synthesised workspace and module.

Fully qualified sources (Terraform and OpenTofu both read them) and a range rather than the
exact pin CDKTF would write, so users can move forward within the major version. The lower
bounds are the providers the pinned bindings were generated from (see pyproject.toml).
"""

from __future__ import annotations

PROVIDER_REQUIREMENTS: dict[str, dict[str, str]] = {
    "aws": {"source": "hashicorp/aws", "version": ">= 5.100.0, < 6.0.0"},
    "kubernetes": {"source": "hashicorp/kubernetes", "version": ">= 2.38.0, < 3.0.0"},
    "helm": {"source": "hashicorp/helm", "version": ">= 3.1.1, < 4.0.0"},
}
REQUIRED_TERRAFORM_VERSION = ">= 1.10.0"
"""1.10 brought S3 native state locking (`use_lockfile`)."""

# Helm charts of the `platform-k8s` workspace: repository, chart, version. Bump here only.
HELM_CHARTS: dict[str, dict[str, str]] = {
    "ingress-nginx": {"repository": "https://kubernetes.github.io/ingress-nginx",
                      "chart": "ingress-nginx", "version": "4.13.5"},  # controller v1.13.5
    "metrics-server": {"repository": "https://kubernetes-sigs.github.io/metrics-server",
                       "chart": "metrics-server", "version": "3.12.2"},  # metrics-server 0.7.2
    "cluster-autoscaler": {"repository": "https://kubernetes.github.io/autoscaler",
                           "chart": "cluster-autoscaler", "version": "9.46.6"},
}

# The cluster autoscaler's minor version must match the control plane's: the image per
# supported `kubernetes_version` (platform.toml accepts exactly these keys).
CLUSTER_AUTOSCALER_IMAGE_TAGS: dict[str, str] = {
    "1.31": "v1.31.0",
    "1.32": "v1.32.0",
    "1.33": "v1.33.0",
}

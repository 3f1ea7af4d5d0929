"""Constructs of the shared platform (one copy): data, network, cluster, ingress, frontends."""

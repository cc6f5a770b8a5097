"""The stack's Grafana dashboards: each written as code, its JSON generated beside it."""

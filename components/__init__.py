"""The platform's ComponentResources, their typed settings and the pure renderers they use."""

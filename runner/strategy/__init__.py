"""Strategies: indicator programs compiled into kernel inputs."""

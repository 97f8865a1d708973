"""What a job learns about the Ray worker it runs on (when the Ray launcher started it)."""

import sys


def worker_tags() -> dict[str, str]:
    """``ray_node_id`` and ``ray_node_ip`` of a job running as a Ray task; numba's threads are limited
    to the CPUs Ray gave the task (``limit_threads``), so jobs sharing a node do not oversubscribe
    it. Empty outside Ray (Ray is imported only when a Ray worker already did)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return {}
    ctx = ray.get_runtime_context()
    if ctx.worker.mode != ray.WORKER_MODE:  # the driver (e.g. compute.backend=ray in a plain run)
        return {}
    cpus = int(ctx.get_assigned_resources().get("CPU", 0) or 0)
    if cpus >= 1:
        limit_threads(cpus)
    return {"ray_node_id": ctx.get_node_id(), "ray_node_ip": ray.util.get_node_ip_address(), "ray_cpus": str(cpus)}


def limit_threads(cpus: int) -> None:
    """At most ``cpus`` of numba's threads for the kernels this thread runs. Through
    ``numba.set_num_threads`` only: numba re-reads ``NUMBA_NUM_THREADS`` from the environment before
    every compilation and refuses a value other than the one its thread pool started with, so
    writing it here made a job that had to compile a kernel (a fresh node's cache) fail."""
    import numba

    numba.set_num_threads(max(1, min(cpus, numba.config.NUMBA_NUM_THREADS)))

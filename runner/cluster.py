"""What a job learns about the Ray worker it runs on (when the Ray launcher started it)."""

import os
import sys


def worker_tags() -> dict[str, str]:
    """``ray_node_id`` and ``ray_node_ip`` of a job running as a Ray task; numba's threads are limited
    to the CPUs Ray gave the task (``NUMBA_NUM_THREADS``), so jobs sharing a node do not oversubscribe
    it. Empty outside Ray (Ray is imported only when a Ray worker already did)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return {}
    ctx = ray.get_runtime_context()
    if ctx.worker.mode != ray.WORKER_MODE:  # the driver (e.g. compute.backend=ray in a plain run)
        return {}
    cpus = int(ctx.get_assigned_resources().get("CPU", 0) or 0)
    if cpus >= 1:
        os.environ["NUMBA_NUM_THREADS"] = str(cpus)
        import numba

        numba.set_num_threads(min(cpus, numba.config.NUMBA_NUM_THREADS))
    return {"ray_node_id": ctx.get_node_id(), "ray_node_ip": ray.util.get_node_ip_address(), "ray_cpus": str(cpus)}

"""The Ray cluster the Ray tests share (one per test session: starting Ray costs seconds).

With $RAY_ADDRESS set (CI: `.ci/run` starts a head and a second node with `ray start`) the tests
connect to that cluster; otherwise a small local Ray is started here and stopped at the end.
Without Ray installed the tests are skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

LOCAL_CPUS = 2


@dataclass(frozen=True)
class RayCluster:
    """What the tests may rely on: the address, whether it is external, how many live nodes."""

    address: str
    external: bool
    nodes: int


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            raise  # CI must run the Ray tests: a missing Ray is an install failure
        pytest.skip('Ray is not installed (pip install "vectorvision-widget[ray]")')
    return ray


def _start_local(ray: Any, attempts: int = 2) -> None:
    """A local Ray; retried once, because on a loaded machine its agents can miss Ray's own
    startup deadline (\"Timed out waiting for file .../metrics_agent_port_...\"). A few idle
    workers are kept (as in .ci/run), so small decode tasks do not each start a process."""
    for attempt in range(attempts):
        try:
            ray.init(
                address="local",
                num_cpus=LOCAL_CPUS,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                object_store_memory=200 * 1024**2,
                _system_config={"num_workers_soft_limit": 4},
            )
            return
        except Exception:
            ray.shutdown()
            if attempt == attempts - 1:
                raise


def ray_session() -> Iterator[RayCluster]:
    """Connect (or start a local Ray), yield the cluster, disconnect (stopping a local one)."""
    ray = _import_ray()
    address = os.environ.get("RAY_ADDRESS") or None
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            _start_local(ray)
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    try:
        yield RayCluster(str(ray.get_runtime_context().gcs_address), bool(address), nodes)
    finally:
        ray.shutdown()

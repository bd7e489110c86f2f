"""Shared fixtures: tiny ONNX models (built once per session) and encoders loaded from them.

Nothing here downloads: the models are built by `tests/tiny_models.py` with the real I/O contract.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so test modules can `import tiny_models`

from tiny_models import TinyModels, build_tiny_models


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """The tiny models plus the weights that define them (for independent expected values)."""
    return build_tiny_models(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="session")
def tiny_models_dir(tiny_models: TinyModels) -> Path:
    """A models folder (no manifest) with the four files `Encoders.load` needs. Do not modify it:
    copy it (`shutil.copytree`) before breaking files."""
    return tiny_models.folder


@pytest.fixture(scope="session")
def encoders(tiny_models_dir: Path) -> Any:
    """`Encoders.load(tiny_models_dir)`: features 32-d, visual 24-d (read from the models)."""
    from vectorvision_widget.models.encoders import Encoders

    return Encoders.load(tiny_models_dir)


@pytest.fixture(scope="session")
def ray_cluster() -> Any:
    """One Ray for the whole session: $RAY_ADDRESS (CI's two-node cluster) or a local one; see
    `tests/ray_cluster.py`."""
    from ray_cluster import ray_session

    yield from ray_session()

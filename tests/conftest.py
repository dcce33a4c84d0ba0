"""Shared test fixtures: the project's real data lives in ../shared/data, never in the repo."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """Path to ../shared/data; skips the test with a message where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def tinyshakespeare(shared_data: Path) -> Path:
    path = shared_data / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(autouse=True, scope="session")
def private_cache_folder(tmp_path_factory):
    """Per-machine measurements (rnnlab.train.precision) go to a folder of this test session,
    not the user's ~/.cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNNLAB_CACHE_DIR", str(tmp_path_factory.mktemp("rnnlab-cache")))
        yield

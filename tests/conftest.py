from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real annotation files beside the checkout (../shared/data); skipped when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real annotation files not found at {SHARED_DATA} (the ../shared/data folder beside the checkout)")
    return SHARED_DATA

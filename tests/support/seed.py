"""The published faster-cpython results copied into tests/data/seed (linux x86_64 machine):
3.12.0a1 at 4ae1a0e measured against 3.10.4 and 3.11.0, with the published tables."""

from pathlib import Path

SEED = Path(__file__).parent.parent / "data" / "seed"
HEAD_FILE = SEED / "bm-20221025-linux-x86_64-python-4ae1a0ecaffe4320fe97-3.12.0a1-4ae1a0e.json"
BASE_3_10 = SEED / "bm-20220323-linux-x86_64-python-9d38120e335357a3b294-3.10.4-9d38120.json"
BASE_3_11 = SEED / "bm-20221024-linux-x86_64-python-deaf509e8fc6e0363bd6-3.11.0-deaf509.json"

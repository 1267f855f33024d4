"""The suite's own layout: tests/ has no __init__.py files (pytest's default import puts each test
file's folder on sys.path), so two test files with one name stop the whole run ("import file
mismatch"). Kernel tests of a unit-tested module end in _live.py."""
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_file_name_is_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert [n for n, c in names.items() if c > 1] == []

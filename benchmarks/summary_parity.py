"""Every numeric leaf of two ``summary.json`` files (``gridssl analyze``), compared exactly.

    gridssl analyze pretrained --out /tmp/before     # with the code before a change
    gridssl analyze pretrained --out /tmp/after      # and after it
    python benchmarks/summary_parity.py /tmp/before/summary.json /tmp/after/summary.json

Prints how many leaves were compared and each one that differs (stage timings are skipped: they
are wall-clock); exit code 1 when any differs. A leaf present on one side only differs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

SKIPPED = ("timings_s",)  # wall-clock, not measurements


def leaves(x: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """(dotted path, number) for every int or float under ``x`` (booleans are not numbers)."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, f"{path}[{i}]")
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield path, x


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    a, b = (dict(leaves(json.loads(open(p).read()))) for p in argv)
    keys = sorted(k for k in set(a) | set(b) if not any(s in k for s in SKIPPED))
    diff = [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]
    print(f"{len(keys)} numeric leaves compared (timings skipped), {len(diff)} differ")
    for k, x, y in diff:
        print(f"  {k}: {x} -> {y}")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

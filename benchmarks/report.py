"""Shared by the benchmark scripts: machine description and BENCHMARKS.md section updates.

Each benchmark owns one section of BENCHMARKS.md between `<!-- NAME:start -->` and
`<!-- NAME:end -->` and rewrites only that section, so benchmarks can be rerun independently.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS_MD = ROOT / "BENCHMARKS.md"
SHARED_DATA = ROOT.parent / "shared" / "data"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags_of_interest() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                wanted = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"]
                return ", ".join(f for f in wanted if f in flags) or "none of avx2/avx512"
    except OSError:
        pass
    return "unknown"


def machine_description() -> str:
    parts = [f"{cpu_model()} ({cpu_flags_of_interest()})", f"{os.cpu_count()} cores",
             f"Python {platform.python_version()}"]
    try:
        import torch
        parts.append(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    except ImportError:
        pass
    import numpy
    parts.append(f"numpy {numpy.__version__}")
    return "; ".join(parts)


def command_line() -> str:
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return " ".join([".venv/bin/python", str(script), *sys.argv[1:]])


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section NAME of BENCHMARKS.md with `body`."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = BENCHMARKS_MD.read_text(encoding="utf-8") if BENCHMARKS_MD.exists() else "# rnnlab benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS_MD.write_text(text, encoding="utf-8")


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)

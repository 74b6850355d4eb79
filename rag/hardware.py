"""What this CPU can do, read once from /proc/cpuinfo (Linux); other systems report nothing."""

from __future__ import annotations

import functools
import os


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of the first core, e.g. {'avx2', 'avx512_bf16', 'amx_bf16'}."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def has_native_bf16_matmul() -> bool:
    """True with Intel AMX (amx_bf16 + amx_tile), where bf16 encoding measured 2-3x faster than
    fp32. AVX512-BF16 alone is not enough: there bf16 measured 0.8x fp32."""
    return {"amx_bf16", "amx_tile"} <= cpu_flags()


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1

"""Named, independent random streams derived from the one seed in the config.

``rng(seed, "cube", 7)`` is the same generator whichever job, process or
order asks for it, so results do not depend on parallelism.
"""

from __future__ import annotations

import zlib

import numpy as np


def _key(part) -> int:
    return zlib.crc32(part.encode()) if isinstance(part, str) else int(part)


def rng(seed: int, *stream) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *(_key(p) for p in stream)]))

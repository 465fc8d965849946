import numpy as np

def parse(text: str | bytes, start: int, ncols: int, /) -> tuple[bytes, int, int] | None:
    """Parse ``[[n, ...], ...]`` at ``start`` into packed doubles, or None if not all numbers."""

def format_rows(
    blocks: list[tuple[str, np.ndarray | list[bytes], int]], nrows: int, /
) -> bytes | None:
    """pandas' split "data" text of (kind, (nrows, width) array, width) blocks, or None."""

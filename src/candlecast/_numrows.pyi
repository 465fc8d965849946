def parse(text: str | bytes, start: int, ncols: int, /) -> tuple[bytes, int, int] | None:
    """Parse ``[[n, ...], ...]`` at ``start`` into packed doubles, or None if not all numbers."""

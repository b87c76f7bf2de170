"""loss operations (filled in by their area)."""
__all__: list[str] = []

"""Pure document logic: stdlib and pycrdt only (no I/O, no event loop, no GUI)."""

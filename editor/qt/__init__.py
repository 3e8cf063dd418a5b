"""The desktop user interface (the only importer of PySide6 and qasync)."""

"""The node: owns documents, links, storage and every task; the facade for the UI and CLI."""

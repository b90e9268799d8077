"""The protocol layer: a pygls-based LSP client with deadlines, and position encodings."""

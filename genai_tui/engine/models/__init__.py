"""Models on the Hub and on disk: search, downloads, the HF cache, other tools' stores,
GGUF headers."""

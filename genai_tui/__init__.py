"""genai-tui: a terminal workbench for local generative AI."""

__version__ = "0.1.0"

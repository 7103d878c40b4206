"""The headless engine: everything that does work. Imports no Textual."""

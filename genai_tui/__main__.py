"""`python -m genai_tui` runs the same entry point as `genai-tui`."""

from genai_tui.cli import main

raise SystemExit(main())

"""Screens: thin layers that compose widgets, bind keys, call the engine and render events."""

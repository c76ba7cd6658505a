"""Developer tools (not on the synth or Lambda paths)."""

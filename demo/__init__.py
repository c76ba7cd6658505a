"""Demo and test harness: the local emulator and the simulated Ground Truth. Never product code."""

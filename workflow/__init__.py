"""Operator CLI of the labeling-to-training workflow: `python -m workflow --help`."""

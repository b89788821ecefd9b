"""Experiment scripts, notes and run logs of this project's research: not part of the package
(see research/README.md)."""

"""The table of Debian packages the corpus builder knows: packages.py (the first survey, and
PACKAGES / RESERVED / EXCLUDED), more.py (the second survey), rendered.py (music shipped as
MIDI or tracker modules), evaluation.py (the reserved evaluation packages)."""

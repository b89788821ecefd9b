"""SDK: load / embed / tag / similar over presets (work in progress, see issue 3)."""

"""artist-siamese-msd: the thesis section 4.1 Siamese checkpoint, ported (not retrained).

The recipe for a ported checkpoint is its converter: `python -m
training_recipes.artist_siamese_msd.convert` turns the authors' Keras 2 HDF5 file
into the preset bundled at sdk/bundled/artist-siamese-msd.
"""

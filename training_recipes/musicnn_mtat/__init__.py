"""musicnn-mtat: musicnn's MTT_musicnn checkpoint, ported (not retrained).

Its recipe is the musicnn converter, `python -m training_recipes.musicnn_msd.convert
--checkpoint <wheel>/musicnn/MTT_musicnn/` (reproduce.sh): the same code as musicnn-msd,
another checkpoint of the same wheel.
"""

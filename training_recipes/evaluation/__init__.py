"""Evaluate presets on a corpus manifest, the same way for every model.

    python -m training_recipes.evaluation --manifest ... --presets ... --out report.json   (cli.py)
    python -m training_recipes.evaluation.transfer --manifest ... --presets ...            (transfer.py)

metrics.py holds every metric (the thesis's and the CLI's), mfcc.py the MFCC baseline,
cache.py the per-track vector cache, notions.py the per-notion triplets, R@K and sub-space
overlap of --notions / --tempo (notions_msd50.json: the MSD tags grouped into notions),
styles.json the style labels of the evaluation soundtracks.
"""

"""Evaluate presets on a corpus manifest, the same way for every model.

    python -m training_recipes.evaluation --manifest ... --presets ... --out report.json   (cli.py)
    python -m training_recipes.evaluation.transfer --manifest ... --presets ...            (transfer.py)

metrics.py holds every metric (the thesis's and the CLI's), mfcc.py the MFCC baseline,
cache.py the per-track vector cache, styles.json the style labels of the evaluation
soundtracks.
"""

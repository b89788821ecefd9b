"""samplecnn-msd: the flagship's recipe, distillation on free game music (docs/training.md).

    prepare.py   the teachers' targets over a corpus (cache_data.py reads them back)
    train.py     distillation (losses.py, optimization.py); resumable, one phase per run
    export.py    a run's weights as a preset (readout.py: the whitened embedding)
    levels.py    the embedding read from every backbone stage (stage 3c)

reproduce.sh replays every step that made the bundled preset; REPORT.md is its history.
"""

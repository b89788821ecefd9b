"""How every shipped checkpoint was made, and the thesis recipes.

    corpus/               the free-music corpus builder (Debian game soundtracks)
    evaluation/           the evaluation and transfer CLIs and every metric
    thesis/               the thesis recipes for MTAT / MSD / GTZAN / FMA and the artist models
    common/               what the recipes share: audio batches, the training loop
    samplecnn_msd/        the flagship's recipe (distillation on the corpus)
    artist_siamese_msd/   converters of ported checkpoints: a ported preset's recipe
    musicnn_msd/          is its converter
    musicnn_mtat/

Each shipped preset's folder holds a `reproduce.sh` that replays every step that made it.
"""

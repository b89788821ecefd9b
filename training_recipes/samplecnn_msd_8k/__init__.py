"""samplecnn-msd-8k: the Table 3.3 8 kHz SampleCNN distilled by function matching (docs/training.md).

    store.py     the training corpus decoded once at 22,050 Hz (no teacher outputs)
    augment.py   the augmented crops (speed, mixup, EQ, gain), drawn P soundtracks x K tracks
    teachers.py  musicnn-msd, musicnn-mtat and artist-siamese-msd run online on each crop
    train.py     the student fitted to what the teachers say of that crop; resumable
    export.py    a run's weights as a preset

reproduce.sh runs every step with the flags the published weights were trained with.
"""

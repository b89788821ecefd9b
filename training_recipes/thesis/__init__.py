"""The thesis recipes, for users who have the datasets: SampleCNN tagging on MTAT / MSD /
GTZAN / FMA (samplecnn_tagging.py, chapter 3) and the artist-label models (artist.py,
section 4.1); datasets.py reads the datasets' public layouts."""

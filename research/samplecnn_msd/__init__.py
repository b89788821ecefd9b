"""The samplecnn-msd experiments (ablation, noise check, level selection, readout on peers,
teacher songs): each wrote a JSON now under research/runs/."""

"""Stage 3b of the samplecnn-msd recipe: whiten the embedding the preset returns.

The trained embedding is nearly low-rank (on the training corpus its covariance spans
eigenvalues from ~100 down to ~1e-5), so cosine similarity is ruled by a few directions
every track shares. Centring on the training corpus's mean song vector and whitening
with a shrunk covariance (PCA whitening, Jegou & Chum, ECCV 2012) lets the other
directions count. Both are linear, so export folds them into the weights:

    e' = (e - mean) @ P,  P = V diag(1 / sqrt(eig + shrinkage * mean(eig))) V^T

changes the `embedding` Dense layer (kernel W @ P, bias (b - mean) @ P) and the `tags`
layer takes e = e' @ P^-1 + mean, so every tag score stays what it was. The preset keeps
`readout.npz` (the mean, P and the two layers' weights before folding), so a later
training phase (`train --init-from`) starts from the unwhitened layers again.

Fit on song vectors as the evaluation CLI takes them (30 s from each track's middle, mean
of the segment embeddings) of the run's training tracks only; the shrinkage was chosen on
the validation soundtracks (see REPORT.md).
"""

from pathlib import Path

import numpy as np

READOUT_FILE = "readout.npz"
SHRINKAGE = 0.1
CLIP_SECONDS = 30.0
LAYERS = ("embedding", "tags")  # the backbone's last Dense layer, and the tag head reading it


def whitening(vectors, shrinkage=SHRINKAGE):
    """(mean, P) that centre `vectors` (n, d) and whiten them: the whitened vectors' covariance
    has eigenvalues eig / (eig + shrinkage * mean(eig)), so no direction is blown up from noise."""
    x = np.asarray(vectors, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"whitening needs (n >= 2, d) vectors, got shape {x.shape}")
    if shrinkage <= 0:
        raise ValueError(f"shrinkage must be positive, got {shrinkage}")
    mean = x.mean(0)
    eig, vectors_ = np.linalg.eigh(np.cov((x - mean).T))
    eig = np.maximum(eig, 0.0)
    scale = 1.0 / np.sqrt(eig + shrinkage * eig.mean())
    return mean.astype(np.float32), ((vectors_ * scale) @ vectors_.T).astype(np.float32)


def _layers(model):
    backbone = model.get_layer("backbone")
    return backbone.get_layer(LAYERS[0]), model.get_layer(LAYERS[1])


def fold(model, mean, matrix):
    """Fold the whitening into `model` (a zoo samplecnn with a tag head) in place; returns the
    two layers' weights before folding (what `unfold` restores)."""
    embedding, tags = _layers(model)
    kernel, bias = (np.asarray(w, np.float64) for w in embedding.get_weights())
    tag_kernel, tag_bias = (np.asarray(w, np.float64) for w in tags.get_weights())
    p = np.asarray(matrix, np.float64)
    mu = np.asarray(mean, np.float64)
    raw = {"embedding_kernel": kernel, "embedding_bias": bias, "tags_kernel": tag_kernel, "tags_bias": tag_bias}
    embedding.set_weights([kernel @ p, (bias - mu) @ p])
    tags.set_weights([np.linalg.solve(p, tag_kernel), tag_bias + mu @ tag_kernel])
    return {k: v.astype(np.float32) for k, v in raw.items()}


def save(directory, mean, matrix, raw, record):
    """Write readout.npz into a preset directory being built; returns its path."""
    path = Path(directory) / READOUT_FILE
    np.savez(path, mean=mean, matrix=matrix, shrinkage=np.float32(record["shrinkage"]), **raw)
    return path


def unfold(model, preset_dir):
    """If `preset_dir` holds a readout.npz, put back the layers' weights from before the
    whitening was folded in; returns whether it did."""
    path = Path(preset_dir) / READOUT_FILE
    if not path.is_file():
        return False
    with np.load(path) as saved:
        embedding, tags = _layers(model)
        embedding.set_weights([saved["embedding_kernel"], saved["embedding_bias"]])
        tags.set_weights([saved["tags_kernel"], saved["tags_bias"]])
    return True


def training_song_vectors(preset_dir, cache, tracks, clip_seconds=CLIP_SECONDS, progress=True):
    """(n, d) song embeddings of `tracks` (cache rows) through the SDK, from the cache's
    audio: `clip_seconds` from each track's middle, as the evaluation CLI embeds them."""
    import sdk
    from tqdm import tqdm

    from training_recipes.samplecnn_msd.prepare import SAMPLE_RATE

    model = sdk.load(preset_dir)
    clip = int(clip_seconds * SAMPLE_RATE)
    vectors = []
    for track in tqdm(tracks, desc="readout: training song vectors", unit="track", disable=not progress):
        start = track["offset"] + max(0, (track["length"] - clip) // 2)
        wave = np.asarray(cache["audio"][start: start + min(clip, track["length"])], np.float32)
        vectors.append(model.embed(wave, sr=SAMPLE_RATE))
    return np.stack(vectors)

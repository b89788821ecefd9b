"""Losses of the samplecnn-msd recipe: the tag losses against musicnn-msd's window scores and
the embedding loss (song-teacher cosine, relational distillation, soundtrack metric learning)."""

import keras
from keras import ops


def logit_mse(y_true, y_pred, eps=1e-4):
    """Squared difference of log-odds (logit matching, Ba & Caruana 2014): unlike BCE on soft
    targets, whose gradient is tiny when every score is small (musicnn's mean score here is
    0.03), it weights how tags rank against each other. Scores are clipped to [eps, 1 - eps]."""
    def logit(p):
        p = ops.clip(p, eps, 1.0 - eps)
        return ops.log(p) - ops.log(1.0 - p)

    return ops.mean(ops.square(logit(y_pred) - logit(y_true)), axis=-1)


def listwise_kl(y_true, y_pred, temperature=1.0, eps=1e-4):
    """KL divergence from the teacher's to the student's softmax over the 50 tags' log-odds
    (/ temperature, times temperature^2 as in Hinton et al. 2015): a loss on which tags rank
    highest in a window, the thing tag agreement measures, and blind to a shared offset."""
    def log_odds(p):
        p = ops.clip(p, eps, 1.0 - eps)
        return (ops.log(p) - ops.log(1.0 - p)) / temperature

    teacher = ops.softmax(log_odds(y_true), axis=-1)
    student = ops.log_softmax(log_odds(y_pred), axis=-1)
    return temperature**2 * ops.sum(teacher * (ops.log(teacher + 1e-12) - student), axis=-1)


TAG_LOSSES = ("bce", "logit-mse")


def tag_loss(name, logit_floor=1e-4, listwise_weight=0.0, temperature=1.0):
    """The tag loss by name; `logit_floor` clips logit-mse's scores to [floor, 1 - floor], so a
    larger floor stops the student spending effort on how improbable an absent tag is. With
    `listwise_weight`, `listwise_kl` is added (the per-tag loss keeps the scores' level)."""
    if name == "bce":
        # per-example only when a listwise term is added to it
        per_tag = keras.losses.BinaryCrossentropy(reduction=None if listwise_weight else "sum_over_batch_size")
    else:
        per_tag = lambda y_true, y_pred: logit_mse(y_true, y_pred, eps=logit_floor)  # noqa: E731
    if not listwise_weight:
        return per_tag
    return lambda y_true, y_pred: per_tag(y_true, y_pred) + listwise_weight * listwise_kl(y_true, y_pred, temperature)


def _unit(x):
    return x / (ops.norm(x, axis=-1, keepdims=True) + 1e-8)


def _centred_similarities(x):
    """Cosine similarities of a batch's vectors after removing the batch mean (the direction
    every song shares, which the cosine term already fixes)."""
    x = _unit(x - ops.mean(x, axis=0, keepdims=True))
    return ops.matmul(x, ops.transpose(x))


def _row_correlation(a, b, mask):
    """Pearson correlation, per row, of the masked entries of two matrices."""
    count = ops.sum(mask, axis=-1, keepdims=True)
    da = (a - ops.sum(a * mask, axis=-1, keepdims=True) / count) * mask
    db = (b - ops.sum(b * mask, axis=-1, keepdims=True) / count) * mask
    return ops.sum(da * db, axis=-1) / ops.sqrt(ops.sum(da * da, axis=-1) * ops.sum(db * db, axis=-1) + 1e-12)


def embedding_loss(cos_weight=1.0, metric_weight=1.0, margin=0.4, relational_weight=0.0, relational_sizes=()):
    """y_true = [teacher song embedding | relational blocks | soundtrack id]; returns a
    per-example loss. The relational term (Park et al. 2019, "Relational Knowledge
    Distillation") is the squared difference of the batch's cosine-similarity matrices, student
    vs teacher: it copies the teacher's neighbourhoods, whatever its embedding's size (the cosine
    term needs equal sizes). With `relational_sizes` (the widths of the blocks after the song
    teacher's: several teachers), it is 1 - the correlation, per anchor, of the student's
    similarities to the rest of the batch with the mean of the blocks', all centred on the
    batch: it asks for the teachers' order of neighbours, not their spread, which the soundtrack
    hinge sets (and which differs between the teachers)."""

    def loss(y_true, y_pred):
        # torch will not subtract its tensors from numpy arrays, which callers may pass
        y_true, y_pred = ops.convert_to_tensor(y_true, "float32"), ops.convert_to_tensor(y_pred, "float32")
        extra = sum(relational_sizes)  # columns of the relational blocks, before the soundtrack id
        teacher, soundtrack = y_true[:, : -1 - extra], y_true[:, -1]
        e = _unit(y_pred)
        t = _unit(teacher)
        sim = ops.matmul(e, ops.transpose(e))
        off_diagonal = 1.0 - ops.eye(ops.shape(e)[0])
        total = 0.0
        if cos_weight:
            total = total + cos_weight * (1.0 - ops.sum(e * t, axis=-1))
        if relational_weight and relational_sizes:
            blocks, end = [], -1 - extra
            for size in relational_sizes:
                blocks.append(_centred_similarities(y_true[:, end : end + size]))
                end += size
            teacher_sim = sum(blocks) / len(blocks)
            agreement = _row_correlation(_centred_similarities(y_pred), teacher_sim, off_diagonal)
            total = total + relational_weight * (1.0 - agreement)
        elif relational_weight:
            teacher_sim = ops.matmul(t, ops.transpose(t))
            total = total + relational_weight * ops.mean(ops.square(sim - teacher_sim), axis=-1)
        same = ops.cast(ops.equal(soundtrack[:, None], soundtrack[None, :]), "float32")
        positive = same * off_diagonal
        negative = 1.0 - same
        # [i, p, n]: margin - s(i, p) + s(i, n) over every valid (p, n) pair of anchor i
        violation = ops.relu(margin - sim[:, :, None] + sim[:, None, :])
        mask = positive[:, :, None] * negative[:, None, :]
        count = ops.maximum(ops.sum(mask, axis=(1, 2)), 1.0)
        metric_term = ops.sum(violation * mask, axis=(1, 2)) / count
        return total + metric_weight * metric_term

    return loss

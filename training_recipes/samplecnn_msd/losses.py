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


def embedding_loss(cos_weight=1.0, metric_weight=1.0, margin=0.4, relational_weight=0.0):
    """y_true = [teacher song embedding | soundtrack id]; returns a per-example loss. The
    relational term (Park et al. 2019, "Relational Knowledge Distillation") is the squared
    difference of the batch's cosine-similarity matrices, student vs teacher: it copies the
    teacher's neighbourhoods, whatever its embedding's size (the cosine term needs equal sizes)."""

    def loss(y_true, y_pred):
        teacher, soundtrack = y_true[:, :-1], y_true[:, -1]
        e = y_pred / (ops.norm(y_pred, axis=-1, keepdims=True) + 1e-8)
        t = teacher / (ops.norm(teacher, axis=-1, keepdims=True) + 1e-8)
        sim = ops.matmul(e, ops.transpose(e))
        total = 0.0
        if cos_weight:
            total = total + cos_weight * (1.0 - ops.sum(e * t, axis=-1))
        if relational_weight:
            teacher_sim = ops.matmul(t, ops.transpose(t))
            total = total + relational_weight * ops.mean(ops.square(sim - teacher_sim), axis=-1)
        same = ops.cast(ops.equal(soundtrack[:, None], soundtrack[None, :]), "float32")
        positive = same * (1.0 - ops.eye(ops.shape(e)[0]))
        negative = 1.0 - same
        # [i, p, n]: margin - s(i, p) + s(i, n) over every valid (p, n) pair of anchor i
        violation = ops.relu(margin - sim[:, :, None] + sim[:, None, :])
        mask = positive[:, :, None] * negative[:, None, :]
        count = ops.maximum(ops.sum(mask, axis=(1, 2)), 1.0)
        metric_term = ops.sum(violation * mask, axis=(1, 2)) / count
        return total + metric_weight * metric_term

    return loss

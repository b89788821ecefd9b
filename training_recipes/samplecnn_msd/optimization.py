"""How the samplecnn-msd recipe steers its optimizer: the learning-rate schedule (linear
warm-up, then cosine decay) and the moving average of the weights it evaluates and keeps.

A run that starts from a preset (`--init-from`) begins with a fresh Adam, whose first
updates are full-size in every weight; the warm-up keeps them from knocking the student off
what it has learned. The cosine decay (Loshchilov & Hutter 2017, without restarts) ends a
session-long run at a small learning rate, where the weights settle instead of swinging.
"""

import contextlib
import math

from keras import ops


def learning_rate_at(step, lr, warmup_steps=0, decay_steps=0, final_fraction=0.0):
    """The learning rate `step` optimizer updates after the schedule began (0-based):
    lr * (step + 1) / warmup_steps during the warm-up, then a cosine from lr down to
    lr * final_fraction over `decay_steps`, held there after. Neither option: constant lr."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if not decay_steps:
        return lr
    progress = min(step - warmup_steps, decay_steps) / decay_steps
    return lr * (final_fraction + (1.0 - final_fraction) * 0.5 * (1.0 + math.cos(math.pi * progress)))


SCHEDULE_KEYS = ("lr", "warmup_steps", "decay_steps", "final_lr_fraction")


def schedule_origin(phases):
    """The step the current phase's schedule began at: a phase that resumes an interrupted one
    with the same schedule continues it rather than warming up again (phases as in config.json,
    the current one last)."""
    index = len(phases) - 1
    while index > 0 and phases[index].get("resume") and \
            all(phases[index - 1].get(k) == phases[index].get(k) for k in SCHEDULE_KEYS):
        index -= 1
    return phases[index]["from_step"]


@contextlib.contextmanager
def averaged_weights(train_model, optimizer):
    """Inside, the trainable weights are the optimizer's moving average of them (Polyak
    averaging; a no-op without --ema-decay); the raw weights come back on exit. The
    validation figures of raw weights swing between evaluations minutes apart (weights, not
    batch-norm statistics or the choice of windows: recomputing the statistics or scoring
    16 windows per track instead of 6 moved them by < 0.01), so the average is what is kept."""
    variables = train_model.trainable_variables
    if not (optimizer.use_ema and optimizer.built):
        yield
        return
    raw = [ops.convert_to_numpy(v) for v in variables]
    optimizer.finalize_variable_values(variables)
    for variable in variables:  # own copies: on JAX the assignment shares (donated) buffers
        variable.assign(ops.convert_to_numpy(variable))
    try:
        yield
    finally:
        for variable, value in zip(variables, raw):
            variable.assign(value)

"""The teachers, run online on each augmented crop, and the 8 kHz student's view of that crop.

One Keras graph holds every teacher, so a batch costs one compiled call:
  musicnn-msd    the 50 tag scores (the tag target) and its 200-d features, on the span
                 resampled to 16 kHz (its whole 47,616-sample input);
  musicnn-mtat   its 200-d features, likewise (optional: a third teacher for the relational term);
  song teacher   the cosine target, on the span's central samples at 22,050 Hz: artist-siamese-msd's
                 256-d segment embedding (65,536 samples, 129 mel frames), or samplecnn-msd's own
                 256-d embedding (59,049 samples; its level read-out), which hands the student
                 the 22 kHz student's geometry of the corpus.
The student hears the span's central 20,736 samples at 8 kHz (2.59 s of the teachers' 2.98 s),
resampled with soxr as the SDK resamples its input. Each teacher is loaded through the SDK, so
its weights are the checked preset's.
"""

import numpy as np
import soxr

from training_recipes.samplecnn_msd.prepare import SAMPLE_RATE, TEACHER_RATE, TEACHER_WINDOW

STUDENT_RATE = 8000
STUDENT_SAMPLES = 20736  # Table 3.3, 8,000 Hz row
ARTIST_SAMPLES = 65536  # artist-siamese-msd's segment: 129 frames of hop 512
TAG_TEACHER = "musicnn-msd"
FEATURE_TEACHERS = ("musicnn-msd", "musicnn-mtat")  # 200-d backbone outputs, for the relational term
SONG_TEACHERS = {"artist-siamese-msd": ARTIST_SAMPLES, "samplecnn-msd": 59049}  # name -> its segment at 22,050 Hz
SONG_TEACHER = "artist-siamese-msd"


def _centre(batch, length):
    start = (batch.shape[1] - length) // 2
    if start < 0:
        raise ValueError(f"spans of {batch.shape[1]} samples are shorter than the {length} needed")
    return batch[:, start: start + length]


def resample_batch(spans, rate):
    """(n, samples) at 22,050 Hz -> (n, samples') at `rate`, soxr HQ, every row as one channel."""
    return np.ascontiguousarray(soxr.resample(np.ascontiguousarray(spans.T), SAMPLE_RATE, rate, quality="HQ").T)


def student_view(spans):
    """What the 8 kHz student hears of each span: its central 20,736 samples at 8 kHz."""
    return _centre(resample_batch(spans, STUDENT_RATE), STUDENT_SAMPLES).astype(np.float32)


def teacher_network(feature_teachers=FEATURE_TEACHERS, song_teacher=SONG_TEACHER):
    """Keras model: {"wave16k": (n, 47,616), "wave22k": (n, 65,536)} -> {"tags", "song", *features}."""
    import keras

    import sdk
    from zoo.heads import apply_layers
    from zoo.parts import network_parts

    if song_teacher not in SONG_TEACHERS:
        raise ValueError(f"unknown song teacher {song_teacher!r}; choose from {', '.join(SONG_TEACHERS)}")
    unknown = set(feature_teachers) - set(FEATURE_TEACHERS)
    if unknown:
        raise ValueError(f"unknown feature teachers {sorted(unknown)}; choose from {', '.join(FEATURE_TEACHERS)}")
    wave16 = keras.Input((TEACHER_WINDOW,), name="wave16k")
    wave22 = keras.Input((ARTIST_SAMPLES,), name="wave22k")
    outputs = {}
    for name in dict.fromkeys((TAG_TEACHER, *feature_teachers)):
        parts = network_parts(sdk.load(name).task.build_network())
        inner = keras.Input((TEACHER_WINDOW,))
        features = parts.backbone(parts.frontend(inner))
        heads = {"features": features, **({"tags": apply_layers(parts.tag_head, features)} if name == TAG_TEACHER else {})}
        out = keras.Model(inner, heads, name=name.replace("-", "_"))(wave16)  # its own scope of layer names
        if name == TAG_TEACHER:
            outputs["tags"] = out["tags"]
        if name in feature_teachers:
            outputs[name] = out["features"]
    length = SONG_TEACHERS[song_teacher]
    start = (ARTIST_SAMPLES - length) // 2
    inner = keras.Input((length,))
    if song_teacher == "artist-siamese-msd":
        parts = network_parts(sdk.load(song_teacher).task.build_network())
        song = parts.backbone(parts.frontend(inner))
    else:  # the preset's whole embedding graph (its level read-out included)
        song = sdk.load(song_teacher).task(inner)["embedding"]
    outputs["song"] = keras.Model(inner, song, name=song_teacher.replace("-", "_"))(wave22[:, start: start + length])
    model = keras.Model({"wave16k": wave16, "wave22k": wave22}, outputs, name="teachers")
    model.output_sizes = {name: int(tensor.shape[-1]) for name, tensor in outputs.items()}
    return model


class Teachers:
    """Targets of a batch of spans: {"tags": (n, 50), "song": (n, 256), <feature teacher>: (n, 200)}."""

    def __init__(self, feature_teachers=FEATURE_TEACHERS, song_teacher=SONG_TEACHER):
        self.feature_teachers = tuple(feature_teachers)
        self.song_teacher = song_teacher
        self.model = teacher_network(self.feature_teachers, song_teacher)

    def __call__(self, spans):
        inputs = {"wave16k": resample_batch(spans, TEACHER_RATE)[:, :TEACHER_WINDOW].astype(np.float32),
                  "wave22k": _centre(spans, ARTIST_SAMPLES).astype(np.float32)}
        out = self.model.predict_on_batch(inputs)
        return {k: np.asarray(v, np.float32) for k, v in out.items()}

    def targets(self, outputs, soundtracks):
        """The student's training targets: tags, and [song | feature blocks | soundtrack id]."""
        blocks = [outputs["song"], *(outputs[name] for name in self.feature_teachers), soundtracks[:, None]]
        return {"tags": outputs["tags"], "embedding": np.concatenate(blocks, axis=1).astype(np.float32)}

    @property
    def relational_sizes(self):
        return tuple(self.model.output_sizes[name] for name in self.feature_teachers)

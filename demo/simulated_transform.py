"""A simulated batch transform for the offline demo: the emulator records transform jobs but runs no model.

`complete_transform_job` does what SageMaker does with the evaluation's transform job, in the
documented formats (docs/evaluation.md): it reads the job's `ManifestFile` (`[{"prefix": ...},
"<path>", ...]`), and for each listed object writes the answer the image-classification container
gives in batch (Accept `application/jsonlines`): one line `{"prediction": [p0, p1, ...]}` to
`<S3OutputPath>/<path>.out`. Which class each image gets is the caller's `answer`; the demo's is
`planned_answers(DEMO_CONFUSION_MATRIX, ...)`, so the report's numbers are known in advance.

Never deployed; nothing here is on the product's code path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from demo.images import CLASSES, class_from_source_ref

# The demo's simulated model, as a confusion matrix: row = true class, column = predicted class, in
# CLASSES order (Airplane, Car, Ferry, Helicopter, Motorbike). Row c read left to right is the
# sequence of answers for class c's validation objects in the transform manifest's order (the
# `planned_answers` rule): with `make demo`'s images (demo.run.DEFAULT_IMAGES) the split has exactly
# these row sums, so the report's confusion matrix is this one.
DEMO_CONFUSION_MATRIX: tuple[tuple[int, ...], ...] = (
    (2, 0, 0, 1, 0),  # Airplane: 2 right, 1 taken for a Helicopter
    (0, 3, 0, 0, 0),  # Car: all 3 right
    (0, 0, 3, 0, 0),  # Ferry: all 3 right
    (1, 0, 0, 2, 0),  # Helicopter: 2 right, 1 taken for an Airplane
    (0, 1, 0, 0, 2),  # Motorbike: 2 right, 1 taken for a Car
)

Answer = Callable[[str], int]  # source-ref -> the class id the model predicts


@dataclass(frozen=True)
class TransformOutcome:
    job: str
    outputs: int  # objects written under the output path
    output_path: str


def planned_answers(matrix: Sequence[Sequence[int]], labels: Sequence[str] = CLASSES,
                    true_class: Callable[[str], str | None] = class_from_source_ref) -> Answer:
    """The class for each object of true class c: row c of `matrix` expanded into a sequence (M[c][0]
    times class 0, then M[c][1] times class 1, ...), the k-th object of class c getting item k (the
    sequence repeats if a class has more objects than its row sum). Objects are numbered per class in
    the order `answer` is asked, which is the transform manifest's order."""
    sequences = [[predicted for predicted, count in enumerate(row) for _ in range(count)] for row in matrix]
    if len(matrix) != len(labels) or any(len(row) != len(labels) or not seq for row, seq in zip(matrix, sequences,
                                                                                                  strict=True)):
        raise ValueError(f"the matrix must be {len(labels)}x{len(labels)} with a positive sum in every row")
    seen = [0] * len(labels)

    def answer(source_ref: str) -> int:
        label = true_class(source_ref)
        if label not in labels:
            raise ValueError(f"cannot tell the class of {source_ref}")
        index = labels.index(label)
        predicted = sequences[index][seen[index] % len(sequences[index])]
        seen[index] += 1
        return predicted

    return answer


def probabilities(predicted: int, class_count: int, *, confidence: float) -> list[float]:
    """One probability per class: `confidence` for the predicted class, the rest shared evenly."""
    if not 1 / class_count < confidence <= 1:
        raise ValueError(f"confidence must be above 1/{class_count} so that class {predicted} is the top one")
    rest = (1 - confidence) / (class_count - 1)
    return [round(confidence if index == predicted else rest, 6) for index in range(class_count)]


def complete_transform_job(s3: Any, sagemaker: Any, job: str, answer: Answer, *, class_count: int) -> TransformOutcome:
    """Write every output of transform job `job` as SageMaker would: `<S3OutputPath>/<path>.out`."""
    description = sagemaker.describe_transform_job(TransformJobName=job)
    source = description["TransformInput"]["DataSource"]["S3DataSource"]
    if source["S3DataType"] != "ManifestFile":
        raise ValueError(f"transform job {job} reads {source['S3DataType']}; the simulation reads a ManifestFile")
    bucket, key = _split(source["S3Uri"])
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    prefix = manifest[0]["prefix"]
    output_path = description["TransformOutput"]["S3OutputPath"]
    output_bucket, output_prefix = _split(output_path)
    output_prefix = output_prefix.rstrip("/") + "/"
    written = 0
    for number, path in enumerate(manifest[1:]):
        predicted = answer(prefix + path)
        # Confidences vary (0.55 to 0.9) so the report's "most confident mistakes" have an order.
        line = {"prediction": probabilities(predicted, class_count, confidence=0.55 + 0.05 * (number % 8))}
        s3.put_object(Bucket=output_bucket, Key=f"{output_prefix}{path}.out",
                      Body=(json.dumps(line) + "\n").encode(), ContentType="application/jsonlines")
        written += 1
    return TransformOutcome(job=job, outputs=written, output_path=output_path)


def _split(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key

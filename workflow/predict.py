"""`predict`: classify local images with the deployed endpoint, or plan a one-off batch transform.

Images are checked before anything is sent: JPEG or PNG by their first bytes (the algorithm's
inference content types), and no larger than the payload limit of where they go. The endpoint's
answer is the class probabilities; the top k are printed with the class names of the training
job's `label-map.json`.

Facts (content types, response formats, payload limits, batch transform) with their AWS sources:
docs/deployment.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from botocore.config import Config
from botocore.exceptions import ClientError

from lambdas import task_types
from lambdas.naming import derive_name
from workflow import aws
from workflow.errors import CliError, UsageError

# --- limits ----------------------------------------------------------------------------------------

# InvokeEndpoint's Body: at most 6291456 bytes (botocore's sagemaker-runtime model; "6 MB").
REALTIME_MAX_BYTES = 6_291_456
# "The maximum request and response payload size for serverless invocations is 4 MB"
# (serverless-endpoints-invoke), read as decimal megabytes: the stricter reading.
SERVERLESS_MAX_BYTES = 4_000_000
# Batch transform: each image is one request of at most MaxPayloadInMB (the default, 6), read as
# decimal megabytes.
BATCH_MAX_PAYLOAD_MB = 6
BATCH_MAX_BYTES = BATCH_MAX_PAYLOAD_MB * 1_000_000

# "A customer's model containers must respond to requests within 60 seconds ... the SDK socket
# timeout should be set to be 70 seconds" (InvokeEndpoint API reference).
RUNTIME_CONFIG = Config(read_timeout=70, connect_timeout=10)

DEFAULT_TOP_K = 3
# What the model reads and answers: its task type's descriptor (lambdas/task_types.py).
ALGORITHM = task_types.IMAGE_CLASSIFICATION.algorithm
ACCEPT = ALGORITHM.inference_response_types[0]
# Batch transform answers in JSON Lines, one line per image: {"prediction": [p0, p1, ...]}.
BATCH_ACCEPT = "application/jsonlines"
# One content type for a folder that mixes JPEG and PNG (one of the descriptor's; a test checks).
BATCH_CONTENT_TYPE = "application/x-image"

# --- image type by magic bytes -------------------------------------------------------------------

JPEG = "image/jpeg"
PNG = "image/png"
_ACCEPTED = ((b"\xff\xd8\xff", JPEG), (b"\x89PNG\r\n\x1a\n", PNG))
# Recognised only to say what a rejected file is.
_OTHER_FORMATS = ((b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"BM", "BMP"), (b"II*\x00", "TIFF"),
                  (b"MM\x00*", "TIFF"), (b"%PDF", "PDF"))
_HEAD_BYTES = 16


def image_type(head: bytes) -> str | None:
    """image/jpeg or image/png from a file's first bytes; None for anything else.

    JPEG files start with the SOI marker FF D8 followed by a marker (FF); PNG files with the
    8-byte signature 89 'PNG' 0D 0A 1A 0A. The file name's extension is not trusted."""
    return next((kind for magic, kind in _ACCEPTED if head.startswith(magic)), None)


def format_name(head: bytes) -> str:
    """A name for what a rejected file looks like ("GIF", "WebP", ...)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp":
        return "HEIF/AVIF or another ISO media file"
    found = next((name for magic, name in _OTHER_FORMATS if head.startswith(magic)), None)
    return found or "not an image format the algorithm reads"


@dataclass(frozen=True)
class ImageFile:
    path: Path
    content_type: str  # image/jpeg or image/png
    size: int


def validate_images(paths: Sequence[str | Path], *, max_bytes: int, limit: str) -> list[ImageFile]:
    """Every path as an ImageFile, or one UsageError listing every problem.

    `limit` says where `max_bytes` comes from ("the real-time endpoint's 6 MB payload limit")."""
    if not paths:
        raise UsageError("no image given: name one or more .jpg or .png files")
    images, problems = [], []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            problems.append(f"{path}: no such file")
            continue
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
        kind = image_type(head)
        if size == 0:
            problems.append(f"{path}: the file is empty")
        elif kind is None or kind not in ALGORITHM.inference_content_types:
            problems.append(f"{path}: {format_name(head)}; the model reads JPEG or PNG only: convert it first")
        elif size > max_bytes:
            problems.append(f"{path}: {size:,} bytes is more than {max_bytes:,} bytes ({limit}): "
                            "scale the image down (the algorithm resizes its input anyway)")
        else:
            images.append(ImageFile(path=path, content_type=kind, size=size))
    if problems:
        raise UsageError("cannot predict these images:\n  " + "\n  ".join(problems))
    return images


def payload_limit(endpoint: Mapping[str, Any]) -> tuple[int, str]:
    """(max image bytes, why) for a DescribeEndpoint answer: serverless endpoints take less."""
    serverless = any(v.get("CurrentServerlessConfig") for v in endpoint.get("ProductionVariants") or [])
    if serverless:
        return SERVERLESS_MAX_BYTES, "a serverless endpoint's 4 MB payload limit"
    return REALTIME_MAX_BYTES, "a real-time endpoint's 6 MB payload limit"


# --- labels and answers ----------------------------------------------------------------------------


def load_labels(document: Any) -> tuple[str, ...]:
    """Class names by class id from a label map: StartTraining's `{"labels": [...]}`, a plain list,
    or an object of class id -> name (ids 0..n-1)."""
    if isinstance(document, Mapping) and "labels" in document:
        document = document["labels"]
    if isinstance(document, Mapping):
        try:
            by_id = {int(key): value for key, value in document.items()}
        except (TypeError, ValueError):
            raise CliError("the label map's keys must be class ids (0, 1, ...)") from None
        if sorted(by_id) != list(range(len(by_id))):
            raise CliError(f"the label map's class ids must be 0..{len(by_id) - 1}, got {sorted(by_id)}")
        document = [by_id[i] for i in range(len(by_id))]
    if not isinstance(document, list) or not document or not all(isinstance(n, str) for n in document):
        raise CliError("the label map must list the class names (label-map.json: {\"labels\": [\"name\", ...]})")
    return tuple(document)


# float32 softmax outputs can overshoot 1 in the last bit.
_ROUNDING = 1e-6


def parse_probabilities(body: bytes) -> list[float]:
    """The class probabilities in the algorithm's answer.

    Real-time with Accept application/json: a JSON array, one probability per class (AWS's
    image-classification notebook indexes the parsed answer directly). Batch transform (JSON
    Lines): one line `{"prediction": [...]}` per image. Both are read, whichever comes back."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        document = json.loads(text.splitlines()[0] if "\n" in text else text)
    except (ValueError, IndexError):
        raise CliError(f"the endpoint's answer is not JSON: {text[:200]!r}") from None
    if isinstance(document, Mapping):
        document = document.get("prediction")
    if (not isinstance(document, list) or not document
            or not all(type(p) in (int, float) and math.isfinite(p) and 0 <= p <= 1 + _ROUNDING for p in document)):
        raise CliError("the endpoint's answer is not a list of class probabilities "
                       f"(expected [p0, p1, ...] or {{\"prediction\": [...]}}): {text[:200]!r}")
    return [float(p) for p in document]


@dataclass(frozen=True)
class Prediction:
    class_id: int
    name: str
    probability: float


def top_k(probabilities: Sequence[float], labels: Sequence[str], k: int) -> list[Prediction]:
    """The `k` most probable classes, highest first (ties: the lower class id first)."""
    if k < 1:
        raise UsageError(f"--top must be at least 1, got {k}")
    order = sorted(range(len(probabilities)), key=lambda i: (-probabilities[i], i))[:k]
    return [Prediction(i, labels[i] if i < len(labels) else f"class {i}", probabilities[i]) for i in order]


def label_mismatch(probabilities: Sequence[float], labels: Sequence[str]) -> str | None:
    """A warning when the model knows another number of classes than the label map names."""
    if len(probabilities) == len(labels):
        return None
    return (f"warning: the model answers {len(probabilities)} classes but the label map names {len(labels)}: "
            "is it the label map of the training job this model came from?")


def format_predictions(image: str, predictions: Sequence[Prediction]) -> str:
    width = max(len(p.name) for p in predictions)
    lines = [image]
    lines += [f"  {rank}. {p.name:<{width}}  {p.probability:.4f}  (class {p.class_id})"
              for rank, p in enumerate(predictions, 1)]
    return "\n".join(lines)


# --- the endpoint ----------------------------------------------------------------------------------


def runtime_client(region: str, *, session: Any = None) -> Any:
    """A sagemaker-runtime client whose socket timeout outlasts the model's 60 seconds."""
    return aws.client("sagemaker-runtime", region, config=RUNTIME_CONFIG, session=session)


def invoke(runtime: Any, endpoint: str, image: ImageFile) -> list[float]:
    """The class probabilities for one image (one image per request: the algorithm's contract)."""
    try:
        answer = runtime.invoke_endpoint(EndpointName=endpoint, ContentType=image.content_type, Accept=ACCEPT,
                                         Body=image.path.read_bytes())
    except ClientError as error:
        raise CliError(_invoke_error(endpoint, image, error)) from None
    return parse_probabilities(answer["Body"].read())


def _invoke_error(endpoint: str, image: ImageFile, error: ClientError) -> str:
    code, message = aws.error_code(error), aws.error_message(error)
    if code == "ModelError":
        return f"the model could not classify {image.path}: {message}"
    if aws.is_not_found(error) or "not found" in message.lower():
        return (f"no endpoint {endpoint}: approve a model package version to deploy one, or use --batch "
                f"({code}: {message})")
    return f"InvokeEndpoint {endpoint} failed for {image.path}: {code}: {message}"


def predict_with_endpoint(runtime: Any, endpoint: str, images: Sequence[ImageFile], labels: Sequence[str], *,
                          k: int, out: TextIO, err: TextIO) -> list[dict[str, Any]]:
    """Classify each image, print its top `k`, and return the results (for --json)."""
    results = []
    for image in images:
        probabilities = invoke(runtime, endpoint, image)
        warning = label_mismatch(probabilities, labels)
        if warning:
            print(warning, file=err)
        predictions = top_k(probabilities, labels, k)
        print(format_predictions(str(image.path), predictions), file=out)
        results.append({"image": str(image.path), "top": [p.__dict__ for p in predictions]})
    return results


# --- a one-off batch transform (plan only) ---------------------------------------------------------

TRANSFORM_JOB_NAME_MAX = 63  # TransformJobName (botocore model)
_UNSAFE_KEY_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BatchPlan:
    """Where each image is uploaded, the CreateTransformJob request, and where each answer lands."""

    uploads: tuple[tuple[Path, str], ...]  # (local file, S3 key)
    request: Mapping[str, Any]
    outputs: tuple[tuple[Path, str], ...]  # (local file, S3 key of its answer)


def batch_plan(images: Sequence[ImageFile], *, bucket: str, prefix: str, run_id: str, job_prefix: str,
               model_name: str, instance_type: str, tags: Mapping[str, str],
               kms_key_arn: str | None = None) -> BatchPlan:
    """A one-off CreateTransformJob over `images` uploaded to `<prefix>/predictions/<run_id>/input/`.

    One flat folder per run (S3Prefix: every object under it is an image of this run), each image
    one request (SplitType None), answers in `<prefix>/predictions/<run_id>/output/<file>.out`
    (batch transform's naming: the input's name plus .out)."""
    if not images:
        raise UsageError("no image to predict")
    base = f"{prefix.strip('/')}/predictions/{run_id}"
    keys = [f"{base}/input/{index:03d}-{_safe_file_name(image.path.name)}" for index, image in enumerate(images, 1)]
    output_path = f"s3://{bucket}/{base}/output"
    request: dict[str, Any] = {
        "TransformJobName": derive_name(f"{job_prefix}-predict-{run_id}", max_length=TRANSFORM_JOB_NAME_MAX),
        "ModelName": model_name,
        "MaxPayloadInMB": BATCH_MAX_PAYLOAD_MB,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{base}/input/"}},
            "ContentType": BATCH_CONTENT_TYPE,
            "SplitType": "None",
            "CompressionType": "None",
        },
        "TransformOutput": {"S3OutputPath": output_path, "Accept": BATCH_ACCEPT, "AssembleWith": "None"},
        "TransformResources": {"InstanceType": instance_type, "InstanceCount": 1},
        "Tags": [{"Key": key, "Value": tags[key]} for key in sorted(tags)],
    }
    if kms_key_arn:
        request["TransformOutput"]["KmsKeyId"] = kms_key_arn
        request["TransformResources"]["VolumeKmsKeyId"] = kms_key_arn
    pairs = list(zip((image.path for image in images), keys, strict=True))
    outputs = tuple((path, f"{base}/output/{PurePosixPath(key).name}.out") for path, key in pairs)
    return BatchPlan(uploads=tuple(pairs), request=request, outputs=outputs)


def _safe_file_name(name: str) -> str:
    """The file name with only S3's safe characters (object key naming guidelines)."""
    return _UNSAFE_KEY_CHARACTERS.sub("_", name).strip("._") or "image"


def print_batch_answers(answers: Iterable[tuple[str, bytes]], labels: Sequence[str], *, k: int,
                        out: TextIO) -> None:
    """Print the top `k` of each (image name, .out object body) a finished transform job wrote."""
    for image, body in answers:
        print(format_predictions(image, top_k(parse_probabilities(body), labels, k)), file=out)

"""`workflow/predict.py`: image checks, the algorithm's answers, top-k output, and the batch plan.

InvokeEndpoint goes to a stub server on 127.0.0.1 that answers as the built-in image
classification algorithm does (docs/deployment.md): a JSON array of class probabilities for
Accept application/json, `{"prediction": [...]}` for application/jsonlines. boto3's real
sagemaker-runtime client talks to it (signing, headers, error parsing included), with the fake
credentials of tests/conftest.py.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.validate import validate_parameters

from lambdas import task_types
from tests.lambdas.training_shape_check import shape_problems
from workflow import predict
from workflow.errors import CliError, UsageError
from workflow.predict import (
    ImageFile,
    batch_plan,
    image_type,
    load_labels,
    parse_probabilities,
    payload_limit,
    predict_with_endpoint,
    top_k,
    validate_images,
)

LABELS = ["Airplane", "Car", "Ferry", "Helicopter", "Motorbike"]


# --- real, tiny image files ------------------------------------------------------------------------


def png_bytes(width: int = 1, height: int = 1) -> bytes:
    """A valid grey PNG: signature, IHDR, one zlib-compressed IDAT, IEND (each chunk with its CRC)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))  # filter byte 0, then 8-bit grey pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def jpeg_bytes() -> bytes:
    """A valid baseline JPEG of one grey pixel: one quantisation table, one-code Huffman tables
    for the DC difference 0 and end-of-block, and a scan of those two codes ("00", padded with 1s)."""
    def segment(marker: int, data: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(data) + 2) + data
    one_code = bytes([1] + [0] * 15) + b"\x00"  # one code of length 1, for symbol 0
    return b"".join([
        b"\xff\xd8",  # SOI
        segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),  # APP0
        segment(0xDB, b"\x00" + b"\x01" * 64),  # DQT, table 0
        segment(0xC0, struct.pack(">BHHB", 8, 1, 1, 1) + b"\x01\x11\x00"),  # SOF0: 1x1, one component
        segment(0xC4, b"\x00" + one_code),  # DHT, DC table 0
        segment(0xC4, b"\x10" + one_code),  # DHT, AC table 0
        segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),  # SOS
        b"\x3f",  # DC "0" + EOB "0", padded with ones
        b"\xff\xd9",  # EOI
    ])


GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00" \
      b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    files = {"car.jpg": jpeg_bytes(), "ferry.png": png_bytes(2, 2), "anim.gif": GIF,
             "renamed.jpg": png_bytes(), "empty.png": b""}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in files}


def test_the_test_images_are_what_they_claim() -> None:
    """The builders make real files, not just magic numbers."""
    png = png_bytes(2, 2)
    width, height, depth = struct.unpack(">IIB", png[16:25])
    assert (width, height, depth) == (2, 2, 8)
    assert zlib.decompress(png[41:41 + struct.unpack(">I", png[33:37])[0]]) == b"\x00\x80\x80" * 2
    jpeg = jpeg_bytes()
    assert jpeg.startswith(b"\xff\xd8\xff\xe0") and jpeg.endswith(b"\xff\xd9")
    assert struct.unpack(">HH", jpeg[jpeg.index(b"\xff\xc0") + 5:][:4]) == (1, 1)  # SOF0 height, width


# --- image checks ------------------------------------------------------------------------------------


def test_content_types_are_the_algorithms() -> None:
    """What predict sends and asks for is what the task type's descriptor says the model takes."""
    algorithm = task_types.IMAGE_CLASSIFICATION.algorithm
    assert {image_type(jpeg_bytes()), image_type(png_bytes()), predict.BATCH_CONTENT_TYPE} <= \
        set(algorithm.inference_content_types)
    assert predict.ACCEPT in algorithm.inference_response_types


def test_type_is_read_from_the_first_bytes() -> None:
    assert image_type(jpeg_bytes()) == "image/jpeg"
    assert image_type(png_bytes()) == "image/png"
    assert image_type(GIF) is None
    assert image_type(b"\xff\xd8") is None  # too short to be a JPEG


def test_jpeg_and_png_pass_with_their_content_types(images: dict[str, Path]) -> None:
    checked = validate_images([images["car.jpg"], images["ferry.png"], images["renamed.jpg"]],
                              max_bytes=1000, limit="test")
    assert [(i.path.name, i.content_type) for i in checked] == [
        ("car.jpg", "image/jpeg"), ("ferry.png", "image/png"), ("renamed.jpg", "image/png")]  # not by extension
    assert checked[0].size == len(jpeg_bytes())


def test_every_bad_file_is_named_in_one_error(images: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        validate_images([images["anim.gif"], images["empty.png"], tmp_path / "missing.jpg", images["car.jpg"]],
                        max_bytes=1000, limit="test")
    message = str(raised.value)
    assert "anim.gif: GIF; the model reads JPEG or PNG only" in message
    assert "empty.png: the file is empty" in message
    assert "missing.jpg: no such file" in message
    assert "car.jpg" not in message
    assert raised.value.exit_code == 2


def test_an_oversize_image_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(jpeg_bytes()[:-2] + b"\x00" * (predict.REALTIME_MAX_BYTES + 1))
    with pytest.raises(UsageError, match=r"big\.jpg: 6,291,6\d\d bytes is more than 6,291,456 bytes \(6 MB\)"):
        validate_images([big], max_bytes=predict.REALTIME_MAX_BYTES, limit="6 MB")


def test_the_limit_follows_the_endpoint_kind() -> None:
    # InvokeEndpoint's Body maximum in botocore's model is the real-time limit.
    body = botocore.session.get_session().get_service_model("sagemaker-runtime") \
        .operation_model("InvokeEndpoint").input_shape.members["Body"]
    assert body.metadata["max"] == predict.REALTIME_MAX_BYTES
    serverless = {"ProductionVariants": [{"VariantName": "AllTraffic", "CurrentServerlessConfig": {
        "MemorySizeInMB": 2048, "MaxConcurrency": 2}}]}
    instance = {"ProductionVariants": [{"VariantName": "AllTraffic", "CurrentInstanceCount": 1}]}
    assert payload_limit(serverless) == (4_000_000, "a serverless endpoint's 4 MB payload limit")
    assert payload_limit(instance)[0] == 6_291_456


# --- answers, labels, top-k ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"[0.1, 0.7, 0.05, 0.1, 0.05]", b'{"prediction": [0.1, 0.7, 0.05, 0.1, 0.05]}\n'])
def test_both_documented_answer_forms_parse(body: bytes) -> None:
    assert parse_probabilities(body) == [0.1, 0.7, 0.05, 0.1, 0.05]


@pytest.mark.parametrize("body", [b"", b"<html>", b"[]", b'{"predictions": [0.5]}', b'["a"]', b"[1.5]", b"[NaN]"])
def test_anything_else_is_refused_with_what_came_back(body: bytes) -> None:
    with pytest.raises(CliError, match="answer"):
        parse_probabilities(body)


def test_labels_from_the_training_label_map_and_other_forms() -> None:
    assert load_labels({"labels": LABELS, "label_attribute": "vehicle-type", "labeling_job": "gt-demo-1"}) == \
        tuple(LABELS)
    assert load_labels({"1": "Car", "0": "Airplane"}) == ("Airplane", "Car")
    with pytest.raises(CliError, match=r"ids must be 0\.\.1"):
        load_labels({"0": "Airplane", "2": "Car"})


def test_top_k_is_highest_first_with_ties_by_class_id() -> None:
    top = top_k([0.2, 0.3, 0.3, 0.2], ["a", "b", "c"], 3)
    assert [(p.class_id, p.name, p.probability) for p in top] == [(1, "b", 0.3), (2, "c", 0.3), (0, "a", 0.2)]
    assert top_k([0.1, 0.9], ["a"], 5)[0].name == "class 1"  # more classes than names
    with pytest.raises(UsageError):
        top_k([1.0], ["a"], 0)


# --- InvokeEndpoint against a stub of the algorithm's container --------------------------------------------


@dataclass
class StubEndpoint:
    """Answers POST /endpoints/<name>/invocations as the image classification algorithm does."""

    name: str
    probabilities: list[float]
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def stub_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubEndpoint]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # never route the loopback stub through a proxy
    stub = StubEndpoint(name="gt-demo-endpoint", probabilities=[0.05, 0.81, 0.09, 0.03, 0.02])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            stub.requests.append({"path": self.path, "content_type": self.headers.get("Content-Type"),
                                  "accept": self.headers.get("Accept"), "body": body,
                                  "signed": self.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256")})
            if self.path != f"/endpoints/{stub.name}/invocations":
                self._answer(400, {"message": f"Endpoint {self.path.split('/')[2]} of account 123456789012 "
                                              "not found."}, error="ValidationError")
            elif self.headers.get("Content-Type") not in ("image/jpeg", "image/png", "application/x-image"):
                self._answer(424, {"Message": "unsupported content type", "OriginalStatusCode": 415},
                             error="ModelError")
            elif self.headers.get("Accept") == "application/jsonlines":
                self._answer(200, {"prediction": stub.probabilities})
            else:
                self._answer(200, stub.probabilities)

        def _answer(self, status: int, document: Any, error: str | None = None) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def runtime_for(stub: StubEndpoint) -> Any:
    return boto3.client("sagemaker-runtime", region_name="us-east-1", endpoint_url=stub.url,
                        config=Config(retries={"mode": "standard", "max_attempts": 1}))


def test_predict_prints_the_top_classes_with_names_and_probabilities(stub_endpoint: StubEndpoint,
                                                                      images: dict[str, Path]) -> None:
    checked = validate_images([images["car.jpg"], images["ferry.png"]], max_bytes=predict.REALTIME_MAX_BYTES,
                              limit="6 MB")
    out, err = io.StringIO(), io.StringIO()
    results = predict_with_endpoint(runtime_for(stub_endpoint), "gt-demo-endpoint", checked, LABELS, k=3,
                                    out=out, err=err)
    assert out.getvalue().splitlines() == [
        str(images["car.jpg"]),
        "  1. Car       0.8100  (class 1)",
        "  2. Ferry     0.0900  (class 2)",
        "  3. Airplane  0.0500  (class 0)",
        str(images["ferry.png"]),
        "  1. Car       0.8100  (class 1)",
        "  2. Ferry     0.0900  (class 2)",
        "  3. Airplane  0.0500  (class 0)",
    ]
    assert err.getvalue() == ""
    assert results[0]["top"][0] == {"class_id": 1, "name": "Car", "probability": 0.81}
    # What reached the endpoint: each image's own bytes and type, signed, asking for JSON.
    first, second = stub_endpoint.requests
    assert (first["content_type"], first["accept"], first["body"]) == ("image/jpeg", "application/json", jpeg_bytes())
    assert (second["content_type"], second["body"]) == ("image/png", png_bytes(2, 2))
    assert first["path"] == "/endpoints/gt-demo-endpoint/invocations" and first["signed"]


def test_a_label_map_of_another_model_is_warned_about(stub_endpoint: StubEndpoint, images: dict[str, Path]) -> None:
    checked = validate_images([images["car.jpg"]], max_bytes=1000, limit="test")
    out, err = io.StringIO(), io.StringIO()
    predict_with_endpoint(runtime_for(stub_endpoint), "gt-demo-endpoint", checked, LABELS[:3], k=2, out=out, err=err)
    assert "the model answers 5 classes but the label map names 3" in err.getvalue()
    assert "1. Car" in out.getvalue()


def test_a_missing_endpoint_says_how_to_get_one(stub_endpoint: StubEndpoint, images: dict[str, Path]) -> None:
    checked = validate_images([images["car.jpg"]], max_bytes=1000, limit="test")
    with pytest.raises(CliError, match="no endpoint other-endpoint: approve a model package version"):
        predict_with_endpoint(runtime_for(stub_endpoint), "other-endpoint", checked, LABELS, k=1,
                              out=io.StringIO(), err=io.StringIO())


def test_a_model_error_names_the_image(stub_endpoint: StubEndpoint, images: dict[str, Path]) -> None:
    wrong = ImageFile(path=images["car.jpg"], content_type="image/gif", size=10)
    with pytest.raises(CliError, match=r"the model could not classify .*car\.jpg"):
        predict.invoke(runtime_for(stub_endpoint), "gt-demo-endpoint", wrong)


def test_the_cli_client_waits_longer_than_the_model_may_take(stub_endpoint: StubEndpoint,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stub_endpoint.url)
    runtime = predict.runtime_client("us-east-1")
    assert runtime.meta.config.read_timeout == 70  # > the 60 s a model container may take
    assert runtime.meta.endpoint_url == stub_endpoint.url


# --- the batch transform plan ------------------------------------------------------------------------------


def test_batch_plan_is_a_valid_transform_job_under_the_project_prefix(images: dict[str, Path]) -> None:
    checked = validate_images([images["car.jpg"], images["ferry.png"]], max_bytes=predict.BATCH_MAX_BYTES,
                              limit="6 MB")
    plan = batch_plan(checked, bucket="sagemaker-us-east-1-123456789012", prefix="ground-truth-demo",
                      run_id="20240601-120000", job_prefix="gt-demo", model_name="gt-demo-model-v3",
                      instance_type="ml.m5.large", tags={"project": "ground-truth-demo"})
    base = "ground-truth-demo/predictions/20240601-120000"
    assert plan.uploads == ((images["car.jpg"], f"{base}/input/001-car.jpg"),
                            (images["ferry.png"], f"{base}/input/002-ferry.png"))
    assert plan.outputs == ((images["car.jpg"], f"{base}/output/001-car.jpg.out"),
                            (images["ferry.png"], f"{base}/output/002-ferry.png.out"))
    request = dict(plan.request)
    assert request["TransformJobName"] == "gt-demo-predict-20240601-120000"
    assert request["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                        "S3Uri": f"s3://sagemaker-us-east-1-123456789012/{base}/input/"}},
        "ContentType": "application/x-image", "SplitType": "None", "CompressionType": "None"}
    assert request["TransformOutput"]["Accept"] == "application/jsonlines"
    assert request["MaxPayloadInMB"] * 1_000_000 == predict.BATCH_MAX_BYTES
    shape = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateTransformJob")
    validate_parameters(request, shape.input_shape)
    assert shape_problems("CreateTransformJob", request) == []


def test_batch_plan_with_a_key_encrypts_output_and_volume(images: dict[str, Path]) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    [image] = validate_images([images["car.jpg"]], max_bytes=predict.BATCH_MAX_BYTES, limit="6 MB")
    plan = batch_plan([image], bucket="b", prefix="p/q", run_id="r1", job_prefix="gt-demo", model_name="m",
                      instance_type="ml.m5.large", tags={}, kms_key_arn=key)
    assert plan.request["TransformOutput"]["KmsKeyId"] == key
    assert plan.request["TransformResources"]["VolumeKmsKeyId"] == key
    assert shape_problems("CreateTransformJob", dict(plan.request)) == []


def test_unsafe_file_names_become_safe_keys(tmp_path: Path) -> None:
    path = tmp_path / "my photo (1).png"
    path.write_bytes(png_bytes())
    [image] = validate_images([path], max_bytes=1000, limit="test")
    plan = batch_plan([image], bucket="b", prefix="p", run_id="r", job_prefix="gt-demo", model_name="m",
                      instance_type="ml.m5.large", tags={})
    assert plan.uploads[0][1] == "p/predictions/r/input/001-my_photo_1_.png"


def test_batch_answers_print_like_endpoint_answers() -> None:
    out = io.StringIO()
    predict.print_batch_answers([("car.jpg", b'{"prediction": [0.05, 0.81, 0.09, 0.03, 0.02]}\n')], LABELS, k=1,
                                out=out)
    assert out.getvalue() == "car.jpg\n  1. Car  0.8100  (class 1)\n"

"""Tiny, valid PNG images for the offline demo, made at run time (no downloads, stdlib only).

Each image is a small square in its class's colour, stored under `images/<Class>/<n>.png`, so
the simulated workers (`class_from_source_ref`) can tell the class from the key alone. The
first pixel encodes the image number, so no two images have the same bytes.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# The tutorial's five classes; their order is the label index order of the categories file.
CLASSES = ("Airplane", "Car", "Ferry", "Helicopter", "Motorbike")
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "Airplane": (70, 130, 180),  # steel blue
    "Car": (200, 30, 30),  # red
    "Ferry": (20, 90, 60),  # dark green
    "Helicopter": (240, 200, 20),  # yellow
    "Motorbike": (60, 60, 60),  # dark grey
}
DEFAULT_PREFIX = "images"
DEFAULT_SIZE = 8
LABEL_CATEGORIES_DOCUMENT_VERSION = "2018-11-28"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOURCE_REF_CLASS = re.compile(r"(?:^|/)(?P<label>[^/]+)/\d+\.png$")


@dataclass(frozen=True)
class GeneratedImage:
    key: str
    label: str
    data: bytes


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, pixels: Sequence[Sequence[tuple[int, int, int]]]) -> bytes:
    """An 8-bit RGB, non-interlaced PNG of `pixels` (rows of (r, g, b))."""
    if len(pixels) != height or any(len(row) != width for row in pixels):
        raise ValueError(f"pixels must be {height} rows of {width} (r, g, b) tuples")
    # Colour type 2 = truecolour RGB; compression, filter and interlace methods 0.
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # Every scanline starts with its filter type (0 = none).
    raw = b"".join(b"\x00" + bytes(channel for pixel in row for channel in pixel) for row in pixels)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def class_image(label: str, number: int, *, size: int = DEFAULT_SIZE) -> bytes:
    """A `size`x`size` square in the class colour; pixel (0, 0) encodes `number`."""
    colour = CLASS_COLOURS[label]
    rows = [[colour] * size for _ in range(size)]
    rows[0][0] = (number % 256, (number // 256) % 256, (number // 65536) % 256)
    return png_bytes(size, size, rows)


def generate_images(
    count: int,
    *,
    classes: Sequence[str] = CLASSES,
    prefix: str = DEFAULT_PREFIX,
    size: int = DEFAULT_SIZE,
) -> list[GeneratedImage]:
    """`count` images spread round-robin over `classes`: `<prefix>/<Class>/<n>.png`."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    unknown = [label for label in classes if label not in CLASS_COLOURS]
    if unknown:
        raise ValueError(f"no colour for class(es) {unknown}; known: {sorted(CLASS_COLOURS)}")
    prefix = prefix.strip("/")
    images = []
    for index in range(count):
        label = classes[index % len(classes)]
        number = index // len(classes) + 1
        key = f"{prefix}/{label}/{number:04d}.png" if prefix else f"{label}/{number:04d}.png"
        images.append(GeneratedImage(key, label, class_image(label, index, size=size)))
    return images


def class_from_source_ref(source_ref: str) -> str | None:
    """The class a simulated worker sees in `.../<Class>/<n>.png`, or None if it can't tell.

    Usable as the simulated Ground Truth's labeler: None makes the object a failed one.
    """
    match = _SOURCE_REF_CLASS.search(source_ref)
    if match and match.group("label") in CLASS_COLOURS:
        return match.group("label")
    return None


def label_categories(classes: Sequence[str] = CLASSES) -> dict[str, Any]:
    """The label categories file; the order of `classes` is the label index order."""
    return {
        "document-version": LABEL_CATEGORIES_DOCUMENT_VERSION,
        "labels": [{"label": label} for label in classes],
    }


def input_manifest(source_refs: Iterable[str]) -> str:
    """An input manifest: one `{"source-ref": ...}` JSON line per object."""
    return "".join(json.dumps({"source-ref": ref}) + "\n" for ref in source_refs)


def upload_images(s3_client: Any, bucket: str, images: Iterable[GeneratedImage]) -> list[str]:
    """Put the images in `bucket`; return their `s3://` URIs in order."""
    uris = []
    for image in images:
        s3_client.put_object(Bucket=bucket, Key=image.key, Body=image.data, ContentType="image/png")
        uris.append(f"s3://{bucket}/{image.key}")
    return uris

"""The tissue mask made visible and tunable (issue 12, item 9): GET tissue.png at a
sensitivity, and a "tissue" region that takes the same sensitivity."""

from __future__ import annotations

import io

import numpy as np
import openslide
import pytest
from PIL import Image

from server.inference.planning import SlideFacts, resolve_region
from server.inference.regions import DEFAULT_SENSITIVITY, RegionError, parse_region
from tests.helpers import DEMO_SLIDE, slide_id_by_name

DEMO_NAME = "CMU-1-Small-Region.svs"
# The pale strand of fibre reaching out to the left of the section, in the 766 × 1024
# detection thumbnail: (x0, y0, x1, y1). It is just darker than glass and hardly stained.
STRAND = (15, 335, 160, 390)


def overlay(server, slide_id: str, sensitivity: float | None) -> tuple[np.ndarray, float]:
    """The overlay's alpha > 0 mask and its X-Tissue-Fraction."""
    query = "" if sensitivity is None else f"?sensitivity={sensitivity}"
    answer = server.get(f"/api/slides/{slide_id}/tissue.png{query}")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(answer.content))
    assert image.mode == "RGBA" and image.size == (766, 1024)
    rgba = np.asarray(image)
    tissue = rgba[..., 3] > 0
    assert (rgba[tissue][:, :3] == (0, 229, 255)).all(), "tissue in one colour"
    fraction = float(answer.headers["X-Tissue-Fraction"])
    assert fraction == pytest.approx(tissue.mean(), abs=1e-5)
    return tissue, fraction


def test_higher_sensitivity_takes_in_more_tissue_and_the_thin_strand(demo_server):
    slide_id = slide_id_by_name(demo_server, DEMO_NAME)
    default, default_fraction = overlay(demo_server, slide_id, None)
    assert 0.3 < default_fraction < 0.45
    fractions = {s: overlay(demo_server, slide_id, s)[1] for s in (0, 0.25, 0.75, 1)}
    fractions[0.5] = default_fraction
    ordered = [fractions[s] for s in sorted(fractions)]
    assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered), fractions
    assert fractions[0] < 0.6 * default_fraction

    x0, y0, x1, y1 = STRAND
    high, _ = overlay(demo_server, slide_id, 1)
    strand_default = default[y0:y1, x0:x1].mean()
    strand_high = high[y0:y1, x0:x1].mean()
    assert strand_high > 1.8 * strand_default, (strand_default, strand_high)
    # The strand's far end (its leftmost 60 px) is left out by default, taken in at 1.
    assert default[y0:y1, x0 : x0 + 60].mean() < 0.1 < 0.3 < high[y0:y1, x0 : x0 + 60].mean()
    # Glass stays glass: the lower-left corner and the upper right.
    for box in ((0, 900, 150, 1024), (600, 20, 766, 150)):
        assert high[box[1] : box[3], box[0] : box[2]].mean() < 0.03, box


def test_bad_sensitivity_is_refused_with_a_message(demo_server):
    slide_id = slide_id_by_name(demo_server, DEMO_NAME)
    for bad in ("1.5", "-0.1", "abc", "nan"):
        answer = demo_server.get(f"/api/slides/{slide_id}/tissue.png?sensitivity={bad}")
        assert answer.status_code == 400, (bad, answer.text)
        assert "sensitivity" in answer.json()["error"]
    assert demo_server.get("/api/slides/nope/tissue.png").status_code == 404


def test_a_tissue_region_takes_the_sensitivity():
    spec = parse_region({"tissue": {"sensitivity": 0.9}})
    assert spec.kind == "tissue" and spec.sensitivity == 0.9
    assert spec.as_json() == {"tissue": {"sensitivity": 0.9}}
    assert parse_region("tissue").as_json() == "tissue"
    assert parse_region({"tissue": {}}).sensitivity == DEFAULT_SENSITIVITY
    assert parse_region({"tissue": {"sensitivity": 0.5}}).as_json() == "tissue"
    for bad in ({"tissue": {"sensitivity": 2}}, {"tissue": {"level": 1}}, {"tissue": 3}):
        with pytest.raises(RegionError):
            parse_region(bad)

    with openslide.OpenSlide(DEMO_SLIDE) as slide:
        facts = SlideFacts(str(DEMO_SLIDE), *slide.dimensions, mpp=0.499)
        default = resolve_region(parse_region("tissue"), facts, slide)
        high = resolve_region(spec, facts, slide)
    assert high.mask.mask.sum() > default.mask.mask.sum()  # type: ignore[union-attr]
    # The region's mask is the overlay's: the strand's far end is in at 0.9, out by default.
    x0, y0, _, y1 = STRAND
    far_end = (slice(y0, y1), slice(x0, x0 + 60))
    assert default.mask.mask[far_end].mean() < 0.1 < high.mask.mask[far_end].mean()  # type: ignore[union-attr]

"""capture/png.py: the encoder and the stitcher of screenshot stripes."""

import io

import numpy as np
import pyspng
import pytest
from PIL import Image

from capture import png


def noise(height, width, channels, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)


@pytest.mark.parametrize("channels", [3, 4])
def test_encode_round_trips_through_two_decoders(channels):
    pixels = noise(700, 333, channels)  # more rows than one buffer, an odd width
    data = png.encode(pixels)
    assert png.size(data) == (333, 700)
    assert (pyspng.load(data) == pixels).all()
    assert (np.asarray(Image.open(io.BytesIO(data))) == pixels).all()


def test_stitched_stripes_equal_the_whole():
    whole = noise(900, 120, 3, seed=2)
    stripes = [png.encode(whole[top : top + 300]) for top in range(0, 900, 300)]
    stitched = png.stitch(stripes)
    assert png.size(stitched) == (120, 900)
    assert (pyspng.load(stitched) == whole).all()


def test_one_stripe_is_returned_as_it_is():
    data = png.encode(noise(10, 10, 3))
    assert png.stitch([data]) is data


def test_stripes_of_different_widths_are_refused():
    with pytest.raises(ValueError, match="parts differ"):
        png.stitch([png.encode(noise(5, 10, 3)), png.encode(noise(5, 11, 3))])


def test_not_a_png_is_named():
    with pytest.raises(ValueError, match="not a PNG image"):
        png.size(b"GIF89a....")

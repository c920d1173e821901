import numpy as np
from PIL import Image


def test_pictures_explain_themselves(tmp_path):
    from genie_transforms.plots import ada_curves, image_grid

    tiles = [[Image.new("RGB", (8, 8), (200, 200, i * 40)) for i in range(5)]] * 2  # light tiles: the divider shows
    plain = image_grid(tiles)
    titled = image_grid(tiles, title="GeNIe", groups=[(1, 2, "generated"), (3, 4, "real")], dividers=[3])
    assert titled.height > plain.height
    pixels = np.asarray(titled.convert("L"))
    divider = 12 + 3 * 76 - 3  # the line before column 3 (left margin 12, cells of 72 + 4)
    assert (pixels[60:, divider] < 50).mean() > 0.9 and (pixels[60:, divider - 6] > 150).mean() > 0.9
    import matplotlib

    before = matplotlib.get_backend()
    rows = [
        {
            "grid": [0.5, 0.7, 0.9],
            "projections": [0.1, 0.5, 0.6],
            "r_star": 0.7,
            "source_name": "three",
            "target_name": "eight",
        }
    ] * 3
    path = ada_curves(rows, str(tmp_path / "curves.png"))
    assert Image.open(path).width > 300 and matplotlib.get_backend() == before  # the caller's backend is kept


def test_grid_labels_are_set_in_a_scalable_font_with_real_spaces():
    """The grid's title and headings are readable at the PNG's size: Pillow's scalable font (not the 6-px bitmap
    one, whose spaces vanish: "negativesof"), and the picture is wide enough for the whole title."""
    from PIL import ImageFont

    from genie_transforms.plots import _font, image_grid

    font = _font(13)
    assert isinstance(font, ImageFont.FreeTypeFont) and font.size == 13
    assert font.getlength("a b") >= font.getlength("ab") + 3
    title = "GeNIe hard negatives of genie-tiny-digits: each source re-imagined as the target class over r"
    tile = Image.new("RGB", (8, 8), "gray")
    grid = image_grid([[tile, tile]], col_labels=["source", "r=0.8"], row_labels=["eight -> nine"], title=title)
    assert grid.width >= _font(15).getlength(title)

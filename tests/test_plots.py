import numpy as np
from PIL import Image


def test_pictures_explain_themselves(tmp_path):
    from genie_transforms.plots import ada_curves, image_grid

    tiles = [[Image.new("RGB", (8, 8), (i * 40, 0, 0)) for i in range(5)]] * 2
    plain = image_grid(tiles)
    titled = image_grid(tiles, title="GeNIe", groups=[(1, 2, "generated"), (3, 4, "real")], dividers=[3])
    assert titled.height > plain.height
    column = np.asarray(titled.convert("L"))[:, 8 + 3 * 76 - 3]  # the divider before column 3
    assert (column[60:] < 50).mean() > 0.9
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

"""Pictures people look at, written as PNG: image grids (PIL only; no display needed)."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont


def image_grid(
    rows: Sequence[Sequence[Image.Image | None]],
    col_labels: Sequence[str] = (),
    row_labels: Sequence[str] = (),
    cell: int = 72,
    pad: int = 4,
) -> Image.Image:
    """Lay out images in a labelled grid; `None` leaves a cell empty. Images are scaled (nearest) to `cell` px."""
    if not rows or not any(rows):
        raise ValueError("image_grid needs at least one row with images.")
    font = ImageFont.load_default()
    n_cols = max(len(r) for r in rows)
    left = 8 + max((int(font.getlength(s)) for s in row_labels), default=0)
    top = 18 if col_labels else pad
    width = left + n_cols * (cell + pad) + pad
    height = top + len(rows) * (cell + pad) + pad
    grid = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(grid)
    for j, label in enumerate(col_labels):
        draw.text((left + j * (cell + pad) + cell // 2, top // 2), label, fill="black", font=font, anchor="mm")
    for i, row in enumerate(rows):
        y = top + i * (cell + pad)
        if i < len(row_labels):
            draw.text((4, y + cell // 2), row_labels[i], fill="black", font=font, anchor="lm")
        for j, image in enumerate(row):
            if image is not None:
                tile = image.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST)
                grid.paste(tile, (left + j * (cell + pad), y))
    return grid

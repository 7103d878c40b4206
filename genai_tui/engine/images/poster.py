"""A poster's slogan drawn onto the picture with Pillow: a contrasting band across the
bottom, the text centred in it, its size fit to the width (two lines when one would be
too small)."""

from __future__ import annotations

from typing import Any

MARGIN = 0.06  # of the width, each side


def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _lines(words: list[str], n: int) -> list[str]:
    """`words` in `n` lines of about equal length."""
    if n == 1 or len(words) < 2:
        return [" ".join(words)]
    total = sum(len(w) for w in words) + len(words) - 1
    best, split = total, 1
    for i in range(1, len(words)):
        first = len(" ".join(words[:i]))
        width = max(first, total - first - 1)
        if width < best:
            best, split = width, i
    return [" ".join(words[:split]), " ".join(words[split:])]


def _fit(draw: Any, text: str, width: int, height: int) -> tuple[Any, list[str]]:
    """The largest font (and line split) whose text fits `width` and a third of `height`."""
    words = text.split()
    best: tuple[int, Any, list[str]] | None = None
    for n in (1, 2):
        lines = _lines(words, n)
        size = max(8, height // (7 * n))
        while size > 8:
            font = _font(size)
            widest = max(draw.textlength(line, font=font) for line in lines)
            if widest <= width:
                break
            size = max(8, int(size * min(0.95, width / widest)))
        if best is None or size > best[0]:
            best = (size, _font(size), lines)
    assert best is not None
    return best[1], best[2]


def draw_slogan(image: Any, slogan: str) -> Any:
    """A copy of `image` (PIL) with `slogan` on a band across its bottom."""
    from PIL import ImageDraw, ImageStat

    slogan = " ".join(slogan.split())
    if not slogan:
        return image
    poster = image.convert("RGB")
    w, h = poster.size
    draw = ImageDraw.Draw(poster)
    font, lines = _fit(draw, slogan, int(w * (1 - 2 * MARGIN)), h)
    ascent, descent = font.getmetrics()
    line_h = ascent + descent
    pad = max(4, line_h // 3)
    band_h = line_h * len(lines) + 2 * pad
    top = h - band_h
    # Contrast with what the band covers: a dark band on a light picture, and back.
    light = ImageStat.Stat(poster.crop((0, top, w, h)).convert("L")).mean[0] > 128
    band, ink = ((16, 16, 16), (250, 250, 250)) if light else ((245, 245, 240), (12, 12, 12))
    draw.rectangle((0, top, w, h), fill=band)
    for i, line in enumerate(lines):
        x = (w - draw.textlength(line, font=font)) / 2
        draw.text((x, top + pad + i * line_h), line, font=font, fill=ink)
    return poster

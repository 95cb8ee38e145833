"""Draw the page's icon: src/digitnet/web/static/favicon.svg and favicon.ico (16, 32, 48 px).

A handwritten-looking 7 in white on the page's blue, rounded square. Run once after changing it:
    python tools/make_favicon.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

STATIC = Path(__file__).resolve().parents[1] / "src" / "digitnet" / "web" / "static"
BLUE, WHITE = "#2f6fdf", "#ffffff"
STROKE = [(9, 9), (23, 9), (14, 25)]  # the 7, on a 32x32 grid
WIDTH = 4

SVG = f"""<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
  <rect width="32" height="32" rx="7" fill="{BLUE}"/>
  <path d="M{STROKE[0][0]} {STROKE[0][1]} L{STROKE[1][0]} {STROKE[1][1]} L{STROKE[2][0]} \
{STROKE[2][1]}" fill="none" stroke="{WHITE}" stroke-width="{WIDTH}" stroke-linecap="round" \
stroke-linejoin="round"/>
</svg>
"""


def icon(side: int = 256) -> Image.Image:
    """The icon drawn at ``side`` pixels (ICO sizes are scaled down from it)."""
    k = side / 32
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, side - 1, side - 1), radius=round(7 * k), fill=BLUE)
    points = [(x * k, y * k) for x, y in STROKE]
    draw.line(points, fill=WHITE, width=round(WIDTH * k), joint="curve")
    r = WIDTH * k / 2
    for x, y in (points[0], points[-1]):  # round caps
        draw.ellipse((x - r, y - r, x + r, y + r), fill=WHITE)
    return img


if __name__ == "__main__":
    (STATIC / "favicon.svg").write_text(SVG)
    icon().save(STATIC / "favicon.ico", sizes=[(16, 16), (32, 32), (48, 48)])
    print("wrote", STATIC / "favicon.svg", "and", STATIC / "favicon.ico")

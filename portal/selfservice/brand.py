"""The organisation's colour on the self-service page, under a CSP that allows no inline style.

``/s/brand.css`` is a small stylesheet for the visit's organisation that sets Pico's primary colours from
Organisation.brand_colour. Every value in it is computed from a colour that matched HEX_COLOUR here (Settings
validates it too, but this is where it becomes CSS), and the text on buttons and the links are made to contrast
with their background (WCAG AA, 4.5:1) whatever colour the supplier chose.
"""

import re

from flask import Response

from portal.selfservice import bp
from portal.selfservice.visit import current

HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
DEFAULT_COLOUR = "#1e6b52"  # Duly's green, Organisation.brand_colour's default
# Pure black: with white, one of the two always reaches 4.5:1 on a button, whatever its colour.
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
# Pico's page backgrounds in the light and the dark scheme.
LIGHT_PAGE, DARK_PAGE = (255, 255, 255), (19, 23, 31)
READABLE = 4.5

RGB = tuple[int, int, int]


def parse(colour: str | None) -> RGB:
    """The colour as RGB, or Duly's green for anything that is not exactly #rrggbb."""
    if not colour or not HEX_COLOUR.fullmatch(colour):
        colour = DEFAULT_COLOUR
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _rgba(rgb: RGB, alpha: float) -> str:
    return f"rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha})"


def luminance(rgb: RGB) -> float:
    """Relative luminance as WCAG 2 defines it."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def mix(rgb: RGB, towards: RGB, share: float) -> RGB:
    return tuple(round(c + (t - c) * share) for c, t in zip(rgb, towards, strict=True))


def readable_on(rgb: RGB, background: RGB) -> RGB:
    """The colour itself if it reads on the background, else the nearest shade (towards black on a light page,
    towards white on a dark one) that does."""
    towards = BLACK if luminance(background) > 0.5 else WHITE
    share = 0.0
    while contrast(mix(rgb, towards, share), background) < READABLE and share < 1:
        share = min(1.0, share + 0.05)
    return mix(rgb, towards, share)


def text_on(rgb: RGB) -> RGB:
    """White or black text, whichever contrasts more with a button of this colour."""
    return WHITE if contrast(rgb, WHITE) >= contrast(rgb, BLACK) else BLACK


def stylesheet(colour: str | None) -> str:
    brand = parse(colour)
    inverse = text_on(brand)
    # Hovering moves the button away from its text colour, so the text stays at least as readable.
    hover_background = mix(brand, BLACK if inverse == WHITE else WHITE, 0.15)
    light_link, dark_link = readable_on(brand, LIGHT_PAGE), readable_on(brand, DARK_PAGE)
    # Same selectors as Pico's and app.css's own: loaded after them, these win.
    return f"""/* The organisation's colour (Settings), computed by portal/selfservice/brand.py. */
:root:not([data-theme=dark]), [data-theme=light] {{
  --duly-brand: {_hex(brand)};
  --duly-brand-inverse: {_hex(inverse)};
  --pico-primary: {_hex(light_link)};
  --pico-primary-background: {_hex(brand)};
  --pico-primary-underline: {_rgba(light_link, 0.5)};
  --pico-primary-hover: {_hex(mix(light_link, BLACK, 0.25))};
  --pico-primary-hover-background: {_hex(hover_background)};
  --pico-primary-focus: {_rgba(brand, 0.4)};
  --pico-primary-inverse: {_hex(inverse)};
  --pico-text-selection-color: {_rgba(brand, 0.2)};
}}
@media only screen and (prefers-color-scheme: dark) {{
  :root:not([data-theme]) {{
    --duly-brand: {_hex(brand)};
    --duly-brand-inverse: {_hex(inverse)};
    --pico-primary: {_hex(dark_link)};
    --pico-primary-background: {_hex(brand)};
    --pico-primary-underline: {_rgba(dark_link, 0.5)};
    --pico-primary-hover: {_hex(mix(dark_link, WHITE, 0.25))};
    --pico-primary-hover-background: {_hex(hover_background)};
    --pico-primary-focus: {_rgba(dark_link, 0.4)};
    --pico-primary-inverse: {_hex(inverse)};
  }}
}}
"""


@bp.get("/brand.css")
def brand_css():
    """The visit's organisation's colours; Duly's own without a visit (the expired-link page)."""
    visit = current()
    return Response(stylesheet(visit.organisation.brand_colour if visit else None), mimetype="text/css")

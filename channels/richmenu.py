"""The LINE rich menu: five postback areas, created through the Messaging API.

    python -m channels.richmenu              # create, upload channels/richmenu.png, set as default
    python -m channels.richmenu --dry-run    # print the rich menu JSON, call nothing
    python -m channels.richmenu --draw       # redraw channels/richmenu.png (needs a CJK font)

Each area is a postback whose data is a ``bot.domain.postback`` key (``i=greet``…), decoded by the
LINE connector like any button. After the new menu is the default, older menus with the same
name are deleted, so re-running the command replaces the menu.

Environment: LINE_CHANNEL_ACCESS_TOKEN; LINE_API_BASE_URL (default https://api.line.me);
LINE_API_DATA_BASE_URL for the image upload (default https://api-data.line.me, or
LINE_API_BASE_URL when that is set to something else, e.g. a local fake).
Drawing needs a Japanese font: MADOGUCHI_CJK_FONT, or Debian's fonts-noto-cjk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import aiohttp
from linebot import AsyncLineBotApi
from linebot.models import PostbackAction, RichMenu, RichMenuArea, RichMenuBounds, RichMenuSize

from bot import config
from bot.domain import postback
from channels.line import TolerantHttpClient
from channels.wording import load_texts

IMAGE_PATH = Path(__file__).resolve().parent / "richmenu.png"
MENU_NAME = "madoguchi-main"
WIDTH, HEIGHT = 2500, 1686
DEFAULT_API = "https://api.line.me"
DEFAULT_DATA_API = "https://api-data.line.me"
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
)


@dataclass(frozen=True)
class Area:
    """One tappable area: postback key (``bot.domain.postback.RICH_MENU_KEYS``), bounds, colour;
    its label is the wording in ``channels/texts.yml`` (``rich_menu.areas``)."""

    key: str
    x: int
    y: int
    width: int
    height: int
    colour: str

    @property
    def label(self) -> str:
        return str(load_texts()["rich_menu"]["areas"][self.key])

    @property
    def data(self) -> str:
        return postback.encode(f"/{self.key}")


# Two large areas on top, three below; the emergency area is the warm colour.
AREAS: Sequence[Area] = (
    Area("greet", 0, 0, 1250, 843, "#2E7D6B"),
    Area("ask_where_to_go", 1250, 0, 1250, 843, "#3D6FA8"),
    Area("ibasho_schedule", 0, 843, 833, 843, "#6B5EA8"),
    Area("show_hotlines", 833, 843, 834, 843, "#C0504D"),
    Area("delete_data", 1667, 843, 833, 843, "#6E6E6E"),
)


def rich_menu() -> RichMenu:
    """The rich menu object (SDK model) with one postback per area."""
    return RichMenu(
        size=RichMenuSize(width=WIDTH, height=HEIGHT),
        selected=True,
        name=MENU_NAME,
        chat_bar_text=str(load_texts()["rich_menu"]["chat_bar"]),
        areas=[
            RichMenuArea(
                bounds=RichMenuBounds(x=a.x, y=a.y, width=a.width, height=a.height),
                action=PostbackAction(label=a.label[:20], data=a.data, display_text=a.label),
            )
            for a in AREAS
        ],
    )


def data_api_base(api_base: str, env: Optional[Dict[str, str]] = None) -> str:
    explicit = (config.settings(env).raw("LINE_API_DATA_BASE_URL") or "").strip()
    if explicit:
        return explicit.rstrip("/")
    return DEFAULT_DATA_API if api_base == DEFAULT_API else api_base


# --- drawing -----------------------------------------------------------------------------------
def find_font(explicit: Optional[str] = None) -> Optional[str]:
    for path in (explicit, config.settings().raw("MADOGUCHI_CJK_FONT"), *FONT_CANDIDATES):
        if path and Path(path).exists():
            return path
    return None


def _jp_face(path: str, size: int) -> Any:
    from PIL import ImageFont

    # A .ttc holds several faces; pick the Japanese one so kana/kanji use JP glyph forms.
    for index in range(10):
        try:
            font = ImageFont.truetype(path, size, index=index)
        except OSError:
            break
        family, style = font.getname()
        if family is None or style is None:  # as str.join would, fail on a face without names
            raise TypeError(f"{path}: face {index} has no family or style name")
        if "JP" in f"{family} {style}":
            return font
    return ImageFont.truetype(path, size)


def draw(path: Path = IMAGE_PATH, font_path: Optional[str] = None) -> Path:
    """Draw the menu image (2500×1686 PNG, well under LINE's 1 MB) and return its path."""
    from PIL import Image, ImageDraw

    font_file = find_font(font_path)
    if font_file is None:
        raise SystemExit("No Japanese font found: apt-get install fonts-noto-cjk, or set MADOGUCHI_CJK_FONT")
    image = Image.new("RGB", (WIDTH, HEIGHT), "#FFFFFF")
    pen = ImageDraw.Draw(image)
    for area in AREAS:
        box = (area.x + 8, area.y + 8, area.x + area.width - 8, area.y + area.height - 8)
        pen.rounded_rectangle(box, radius=36, fill=area.colour)
        lines = area.label.replace("（", "\n（").split("\n")
        size = 120 if area.width > 1000 else 92
        font = _jp_face(font_file, size)
        small = _jp_face(font_file, int(size * 0.7))
        fonts = [font] + [small] * (len(lines) - 1)
        heights = [pen.textbbox((0, 0), line, font=f)[3] for line, f in zip(lines, fonts)]
        total = sum(heights) + 30 * (len(lines) - 1)
        y = area.y + (area.height - total) / 2
        for line, f, h in zip(lines, fonts, heights):
            w = pen.textlength(line, font=f)
            pen.text((area.x + (area.width - w) / 2, y), line, font=f, fill="#FFFFFF")
            y += h + 30
    image.save(path, format="PNG", optimize=True)
    return path


# --- API ---------------------------------------------------------------------------------------
async def create(
    token: str,
    api_base: str = DEFAULT_API,
    image: Path = IMAGE_PATH,
    *,
    data_base: Optional[str] = None,
    timeout: float = 30.0,
) -> str:
    """Create the menu, upload its image, make it the default, delete older copies.

    Returns:
        :obj:`str`: the new rich menu id.
    """
    content = image.read_bytes()
    async with aiohttp.ClientSession() as session:
        api = AsyncLineBotApi(
            token,
            TolerantHttpClient(session, timeout=timeout),
            endpoint=api_base,
            data_endpoint=data_base or data_api_base(api_base),
        )
        menu_id = await api.create_rich_menu(rich_menu())
        await api.set_rich_menu_image(menu_id, "image/png", content)
        await api.set_default_rich_menu(menu_id)
        for old in await api.get_rich_menu_list():
            if old.name == MENU_NAME and old.rich_menu_id != menu_id:
                await api.delete_rich_menu(old.rich_menu_id)
    return menu_id


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.richmenu", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the rich menu JSON and exit")
    parser.add_argument("--draw", action="store_true", help="redraw the image and exit")
    parser.add_argument("--image", type=Path, default=IMAGE_PATH, help="PNG to upload (default: %(default)s)")
    parser.add_argument("--font", help="font file for --draw")
    args = parser.parse_args(argv)
    if args.dry_run:
        print(json.dumps(rich_menu().as_json_dict(), ensure_ascii=False, indent=2))
        return 0
    if args.draw:
        print(draw(args.image, args.font))
        return 0
    token = (config.settings().raw("LINE_CHANNEL_ACCESS_TOKEN") or "").strip()
    if not token:
        print("LINE_CHANNEL_ACCESS_TOKEN is not set", file=sys.stderr)
        return 2
    api_base = (config.settings().raw("LINE_API_BASE_URL") or DEFAULT_API).strip().rstrip("/")
    menu_id = asyncio.run(create(token, api_base, args.image))
    print(f"rich menu {menu_id} created and set as default")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Renders a text capture of a terminal (`tmux capture-pane -e -p`: UTF-8 with SGR colour sequences) to a PNG.

    python3 tools/docs/render_pane.py pane.txt out.png [--cols 120] [--rows 36] [--font DejaVuSansMono.ttf]

Half and full blocks are drawn as rectangles (so the TUI's image cells stay crisp); every other character with the
monospace font. Understands the SGR codes the TUI emits: reset, bold, reverse, 30–37/90–97, 40–47/100–107,
38;5;n / 48;5;n and 38;2;r;g;b / 48;2;r;g;b.
"""
import argparse
import re

from PIL import Image, ImageDraw, ImageFont

BASE16 = [(0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200), (188, 63, 188), (17, 168, 205),
          (229, 229, 229), (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67), (59, 142, 234),
          (214, 112, 214), (41, 184, 219), (255, 255, 255)]
FG, BG = (220, 220, 220), (24, 24, 28)


def xterm256(n):
    if n < 16:
        return BASE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    v = 8 + 10 * (n - 232)
    return v, v, v


def parse(text, cols, rows):
    """Cells [row][col] = (char, fg, bg, bold)."""
    grid = [[(" ", FG, BG, False) for _ in range(cols)] for _ in range(rows)]
    for r, line in enumerate(text.split("\n")[:rows]):
        fg, bg, bold, rev, c = FG, BG, False, False, 0
        for tok in re.split(r"(\x1b\[[0-9;]*m)", line):
            if tok.startswith("\x1b["):
                codes = [int(x) if x else 0 for x in tok[2:-1].split(";")]
                i = 0
                while i < len(codes):
                    k = codes[i]
                    if k == 0:
                        fg, bg, bold, rev = FG, BG, False, False
                    elif k == 1:
                        bold = True
                    elif k == 7:
                        rev = True
                    elif k == 22:
                        bold = False
                    elif k == 27:
                        rev = False
                    elif 30 <= k <= 37:
                        fg = BASE16[k - 30]
                    elif 90 <= k <= 97:
                        fg = BASE16[k - 82]
                    elif 40 <= k <= 47:
                        bg = BASE16[k - 40]
                    elif 100 <= k <= 107:
                        bg = BASE16[k - 92]
                    elif k == 39:
                        fg = FG
                    elif k == 49:
                        bg = BG
                    elif k in (38, 48) and i + 1 < len(codes):
                        if codes[i + 1] == 5:
                            col = xterm256(codes[i + 2])
                            i += 2
                        else:
                            col = tuple(codes[i + 2:i + 5])
                            i += 4
                        if k == 38:
                            fg = col
                        else:
                            bg = col
                    i += 1
                continue
            for ch in tok:
                if c < cols:
                    f, b = (bg, fg) if rev else (fg, bg)
                    grid[r][c] = (ch, f, b, bold)
                c += 1
    return grid


def render(grid, font_path, size):
    font = ImageFont.truetype(font_path, size)
    bold = ImageFont.truetype(font_path.replace(".ttf", "-Bold.ttf"), size)
    cw = round(font.getlength("M"))
    ch = round(size * 1.2)
    img = Image.new("RGB", (cw * len(grid[0]), ch * len(grid)), BG)
    d = ImageDraw.Draw(img)
    for r, row in enumerate(grid):
        for c, (g, fg, bg, b) in enumerate(row):
            x, y = c * cw, r * ch
            d.rectangle([x, y, x + cw - 1, y + ch - 1], fill=bg)
            if g == "▀":
                d.rectangle([x, y, x + cw - 1, y + ch // 2 - 1], fill=fg)
            elif g == "▄":
                d.rectangle([x, y + ch // 2, x + cw - 1, y + ch - 1], fill=fg)
            elif g == "█":
                d.rectangle([x, y, x + cw - 1, y + ch - 1], fill=fg)
            elif g != " ":
                d.text((x, y + (ch - size) // 2), g, font=bold if b else font, fill=fg)
    return img


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("out")
    ap.add_argument("--cols", type=int, default=120)
    ap.add_argument("--rows", type=int, default=36)
    ap.add_argument("--font", default="/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
    ap.add_argument("--size", type=int, default=14)
    a = ap.parse_args()
    with open(a.capture, encoding="utf-8") as f:
        text = f.read()
    render(parse(text, a.cols, a.rows), a.font, a.size).save(a.out, optimize=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""XWD (X11 window dump, 24/32-bit TrueColor) on stdin -> PNG on stdout. Standard library only."""
import struct
import sys
import zlib

data = sys.stdin.buffer.read()
(header_size, _version, _fmt, _depth, width, height, _xoff, byte_order, _unit, _bit_order, _pad,
 bits_per_pixel, bytes_per_line, _visual, _rmask, _gmask, _bmask, _bits_rgb, _entries, ncolors) = struct.unpack(">20I", data[:80])
if bits_per_pixel != 32:
    sys.exit(f"xwd2png: {bits_per_pixel} bits per pixel is not supported")
pixels = data[header_size + ncolors * 12:]
rows = []
for y in range(height):
    row = pixels[y * bytes_per_line: y * bytes_per_line + width * 4]
    out = bytearray([0])  # PNG filter type 0 (none)
    for x in range(width):
        b = row[x * 4: x * 4 + 4]
        out += bytes((b[2], b[1], b[0])) if byte_order == 0 else bytes((b[1], b[2], b[3]))
    rows.append(bytes(out))


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
png += chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + chunk(b"IEND", b"")
sys.stdout.buffer.write(png)

import ScalewiseEngine

/// How image pixels map to character cells (a cell is about 1 wide × 2 tall).
public enum SymbolMode: String, CaseIterable, Sendable {
    /// ▀ with fg = top pixel, bg = bottom pixel: lossless, square pixels (the default).
    case half
    /// 2×2 quadrant blocks, two colours chosen per cell.
    case quad
    /// 2×3 sextants (Unicode 13), two colours chosen per cell.
    case sextant
    /// Plain ASCII: coloured spaces, or a shading ramp in mono (non-UTF-8 locales).
    case ascii

    /// Sub-pixels per cell (columns, rows).
    var grid: (Int, Int) {
        switch self {
        case .half: (1, 2)
        case .quad: (2, 2)
        case .sextant: (2, 3)
        case .ascii: (1, 2)
        }
    }
}

/// One terminal cell: a glyph and its two colours; `plain` cells use the terminal's default colours.
struct Cell: Equatable {
    var glyph: UInt32
    var fg: RGB
    var bg: RGB
    var plain = false
}

enum CellRenderer {
    static let upperHalf: UInt32 = 0x2580

    /// Renders `image` into `cols`×`rows` cells. Colours are exact RGB; indexed modes quantise later,
    /// except mono, which is decided here (glyph shape carries the picture).
    static func render(_ image: RGBImage, cols: Int, rows: Int, symbols: SymbolMode, color: ColorMode) -> [Cell] {
        guard cols > 0, rows > 0, image.width > 0 else { return [] }
        let (gx, gy) = symbols.grid
        let pw = cols * gx, ph = rows * gy
        let px = resample(image, width: pw, height: ph)
        var out = [Cell]()
        out.reserveCapacity(cols * rows)
        var sub = [RGB](repeating: 0, count: gx * gy)
        for r in 0..<rows {
            for c in 0..<cols {
                for j in 0..<gy { for i in 0..<gx { sub[j * gx + i] = px[(r * gy + j) * pw + c * gx + i] } }
                out.append(cell(sub, symbols: symbols, color: color, x: c, y: r))
            }
        }
        return out
    }

    static func cell(_ sub: [RGB], symbols: SymbolMode, color: ColorMode, x: Int, y: Int) -> Cell {
        if color == .mono { return monoCell(sub, symbols: symbols, x: x, y: y) }
        switch symbols {
        case .half: return Cell(glyph: upperHalf, fg: sub[0], bg: sub[1])
        case .ascii: return Cell(glyph: 0x20, fg: 0, bg: average(sub, mask: 3, set: true))
        case .quad, .sextant:
            let (mask, fg, bg) = bestPartition(sub)
            return Cell(glyph: glyph(mask: mask, symbols: symbols), fg: fg, bg: bg)
        }
    }

    /// notcurses' hires solver: try every split of the cell's sub-pixels into two sets (each split once,
    /// the set holding sub-pixel 0 being the foreground), colour each set by its mean, keep the split with
    /// the least squared error. Exact whenever the cell has at most two colours.
    static func bestPartition(_ sub: [RGB]) -> (mask: Int, fg: RGB, bg: RGB) {
        let n = sub.count, full = (1 << n) - 1
        let ch = sub.map { channels($0) }
        var best = (mask: full, fg: average(sub, mask: full, set: true), bg: average(sub, mask: full, set: true))
        var bestErr = Int.max
        var m = 1
        while m <= full {
            defer { m += 2 }  // odd masks only: sub-pixel 0 is always in the foreground set
            var s1 = (0, 0, 0, 0), s0 = (0, 0, 0, 0)
            for k in 0..<n {
                let (r, g, b) = ch[k]
                if m >> k & 1 == 1 { s1 = (s1.0 + r, s1.1 + g, s1.2 + b, s1.3 + 1) } else { s0 = (s0.0 + r, s0.1 + g, s0.2 + b, s0.3 + 1) }
            }
            let f = (s1.0 / s1.3, s1.1 / s1.3, s1.2 / s1.3)
            let bg = s0.3 > 0 ? (s0.0 / s0.3, s0.1 / s0.3, s0.2 / s0.3) : f
            var err = 0
            for k in 0..<n {
                let (r, g, b) = ch[k], t = m >> k & 1 == 1 ? f : bg
                err += (r - t.0) * (r - t.0) + (g - t.1) * (g - t.1) + (b - t.2) * (b - t.2)
            }
            if err < bestErr {
                bestErr = err
                best = (m, rgb(UInt8(f.0), UInt8(f.1), UInt8(f.2)), rgb(UInt8(bg.0), UInt8(bg.1), UInt8(bg.2)))
            }
        }
        return best
    }

    static func average(_ sub: [RGB], mask: Int, set: Bool) -> RGB {
        var s = (0, 0, 0), n = 0
        for (k, c) in sub.enumerated() where (mask >> k & 1 == 1) == set {
            let (r, g, b) = channels(c)
            s = (s.0 + r, s.1 + g, s.2 + b)
            n += 1
        }
        guard n > 0 else { return 0 }
        return rgb(UInt8(s.0 / n), UInt8(s.1 / n), UInt8(s.2 / n))
    }

    /// Quadrant bits: 1 TL, 2 TR, 4 BL, 8 BR.
    static let quadrants: [UInt32] = [
        0x20, 0x2598, 0x259D, 0x2580, 0x2596, 0x258C, 0x259E, 0x259B,
        0x2597, 0x259A, 0x2590, 0x259C, 0x2584, 0x2599, 0x259F, 0x2588,
    ]

    /// Sextant bits: 1 TL, 2 TR, 4 ML, 8 MR, 16 BL, 32 BR. U+1FB00… enumerate the masks in order,
    /// skipping the four that already exist as space, ▌, ▐ and █.
    static func sextant(_ m: Int) -> UInt32 {
        switch m {
        case 0: return 0x20
        case 21: return 0x258C
        case 42: return 0x2590
        case 63: return 0x2588
        default: return 0x1FB00 + UInt32(m - 1 - (m > 21 ? 1 : 0) - (m > 42 ? 1 : 0))
        }
    }

    static func glyph(mask: Int, symbols: SymbolMode) -> UInt32 {
        switch symbols {
        case .quad: quadrants[mask]
        case .sextant: sextant(mask)
        case .half: mask == 1 ? upperHalf : (mask == 2 ? 0x2584 : (mask == 3 ? 0x2588 : 0x20))
        case .ascii: 0x20
        }
    }

    static let asciiRamp = Array(" .:-=+*#%@".unicodeScalars.map(\.value))

    /// Mono: each sub-pixel is on or off against an ordered-dither threshold; ASCII uses a shading ramp.
    static func monoCell(_ sub: [RGB], symbols: SymbolMode, x: Int, y: Int) -> Cell {
        if symbols == .ascii {
            let l = sub.map(luma).reduce(0, +) / sub.count
            return Cell(glyph: asciiRamp[min(asciiRamp.count - 1, l * asciiRamp.count / 256)], fg: 0, bg: 0, plain: true)
        }
        let (gx, gy) = symbols.grid
        var mask = 0
        for (k, c) in sub.enumerated() {
            let sx = x * gx + k % gx, sy = y * gy + k / gx
            if luma(c) > bayer4[(sy & 3) * 4 + (sx & 3)] { mask |= 1 << k }
        }
        return Cell(glyph: glyph(mask: mask, symbols: symbols), fg: 0, bg: 0, plain: true)
    }

    /// Area average when shrinking, bilinear when enlarging (per axis).
    static func resample(_ image: RGBImage, width: Int, height: Int) -> [RGB] {
        let sw = image.width, sh = image.height
        var out = [RGB](repeating: 0, count: width * height)
        image.pixels.withUnsafeBufferPointer { p in
            func at(_ x: Int, _ y: Int, _ ch: Int) -> Float { Float(p[(y * sw + x) * 3 + ch]) }
            for y in 0..<height {
                let (y0, y1) = span(y, height, sh)
                for x in 0..<width {
                    let (x0, x1) = span(x, width, sw)
                    var acc: (Float, Float, Float) = (0, 0, 0), wsum: Float = 0
                    for sy in Int(y0.rounded(.down))..<max(Int(y0.rounded(.down)) + 1, Int(y1.rounded(.up))) {
                        let wy = overlap(y0, y1, sy)
                        for sx in Int(x0.rounded(.down))..<max(Int(x0.rounded(.down)) + 1, Int(x1.rounded(.up))) {
                            let w = wy * overlap(x0, x1, sx)
                            guard w > 0 else { continue }
                            let cx = min(sw - 1, max(0, sx)), cy = min(sh - 1, max(0, sy))
                            acc = (acc.0 + w * at(cx, cy, 0), acc.1 + w * at(cx, cy, 1), acc.2 + w * at(cx, cy, 2))
                            wsum += w
                        }
                    }
                    if wsum == 0 { wsum = 1 }
                    out[y * width + x] = rgb(UInt8(min(255, acc.0 / wsum + 0.5)), UInt8(min(255, acc.1 / wsum + 0.5)),
                                             UInt8(min(255, acc.2 / wsum + 0.5)))
                }
            }
        }
        return out
    }

    /// The source interval an output pixel reads: its footprint when shrinking; when enlarging, a
    /// one-pixel "tent" window centred on its position, so `overlap` yields bilinear weights.
    private static func span(_ i: Int, _ n: Int, _ sn: Int) -> (Float, Float) {
        let scale = Float(sn) / Float(n)
        if scale >= 1 { return (Float(i) * scale, Float(i + 1) * scale) }
        let c = (Float(i) + 0.5) * scale - 0.5  // centre in source pixel coordinates
        let lo = max(0, min(Float(sn - 1), c))
        return (lo, lo + 1)
    }

    private static func overlap(_ a: Float, _ b: Float, _ s: Int) -> Float {
        max(0, min(b, Float(s + 1)) - max(a, Float(s)))
    }
}

import Foundation
import ScalewiseEngine

// Escape-sequence encoders for the three terminal image protocols. Each returns the bytes to write to
// the terminal; none touches curses.

private let esc: UInt8 = 0x1B
private let st: [UInt8] = [0x1B, 0x5C]  // ST (String Terminator), ESC \

/// Scaling an image to the pixel box it is shown in.
enum PixelScale {
    /// The largest whole zoom that fits `w`×`h` in `boxW`×`boxH` pixels; 0 when even 1× does not fit.
    static func zoom(_ w: Int, _ h: Int, boxW: Int, boxH: Int) -> Int {
        guard w > 0, h > 0 else { return 0 }
        return min(boxW / w, boxH / h)
    }

    /// The pixel size `fit` gives, without making the picture.
    static func fittedSize(_ w: Int, _ h: Int, boxW: Int, boxH: Int) -> (Int, Int) {
        let z = zoom(w, h, boxW: boxW, boxH: boxH)
        if z >= 1 { return (w * z, h * z) }
        let f = min(Double(boxW) / Double(w), Double(boxH) / Double(h))
        return (max(1, Int(Double(w) * f)), max(1, Int(Double(h) * f)))
    }

    /// Nearest-neighbour enlargement by a whole factor: every source pixel becomes `z`×`z` equal pixels.
    static func zoomed(_ image: RGBImage, by z: Int) -> RGBImage {
        guard z > 1 else { return image }
        let w = image.width * z, h = image.height * z
        var px = [UInt8](repeating: 0, count: w * h * 3)
        image.pixels.withUnsafeBufferPointer { src in
            px.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let sy = y / z, row = y * w * 3
                    for x in 0..<w {
                        let s = (sy * image.width + x / z) * 3, d = row + x * 3
                        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// `image` shown in a `boxW`×`boxH` pixel box: whole-number zoom where it fits (pixel-true), else
    /// shrunk by area averaging to the largest size that keeps the aspect ratio. Returns the zoom too
    /// (0 when shrunk).
    static func fit(_ image: RGBImage, boxW: Int, boxH: Int) -> (image: RGBImage, zoom: Int) {
        let z = zoom(image.width, image.height, boxW: boxW, boxH: boxH)
        if z >= 1 { return (zoomed(image, by: z), z) }
        let (w, h) = fittedSize(image.width, image.height, boxW: boxW, boxH: boxH)
        let rgb = CellRenderer.resample(image, width: w, height: h)
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for (i, c) in rgb.enumerated() {
            px[i * 3] = UInt8(c >> 16 & 0xFF); px[i * 3 + 1] = UInt8(c >> 8 & 0xFF); px[i * 3 + 2] = UInt8(c & 0xFF)
        }
        return (RGBImage(width: w, height: h, pixels: px), 0)
    }
}

/// DEC sixel graphics (VT330/VT340 Programmer Reference, chapter 14): a DCS string of six-pixel-tall
/// bands, one pass per colour register, with `!n` run-length repeats.
enum SixelEncoder {
    /// Register values are percentages: 0…255 → 0…100, rounded.
    static func percent(_ v: UInt8) -> Int { (Int(v) * 100 + 127) / 255 }

    static func encode(_ image: RGBImage, maxColors: Int = 256) -> [UInt8] {
        let w = image.width, h = image.height
        guard w > 0, h > 0 else { return [] }
        let (palette, index) = ColorReducer.reduce(image, maxColors: maxColors)
        var out = [UInt8]()
        out.reserveCapacity(w * h / 2)
        // P1 = 0 (aspect from the raster attributes), P2 = 1 (unset pixels keep their colour), then
        // the raster attributes "1;1;w;h: square pixels and the image size.
        out += [esc] + Array("P0;1;0q\"1;1;\(w);\(h)".utf8)
        for (i, c) in palette.enumerated() {
            let (r, g, b) = channels(c)
            out += Array("#\(i);2;\(percent(UInt8(r)));\(percent(UInt8(g)));\(percent(UInt8(b)))".utf8)
        }
        var bits = [UInt8](repeating: 0, count: palette.count * w)
        var present = [Bool](repeating: false, count: palette.count)
        var used = [Int]()
        for band in stride(from: 0, to: h, by: 6) {
            used.removeAll(keepingCapacity: true)
            for dy in 0..<min(6, h - band) {
                let row = (band + dy) * w
                for x in 0..<w {
                    let c = Int(index[row + x])
                    if !present[c] { present[c] = true; used.append(c) }
                    bits[c * w + x] |= UInt8(1 << dy)
                }
            }
            for (n, c) in used.enumerated() {
                if n > 0 { out.append(0x24) }  // '$': back to the band's first column for the next colour
                out += Array("#\(c)".utf8)
                // Trailing empty columns are left out: the next colour or band starts afresh anyway.
                var last = w - 1
                while last >= 0 && bits[c * w + last] == 0 { last -= 1 }
                var x = 0
                while x <= last {
                    let v = bits[c * w + x]
                    var run = 1
                    while x + run <= last && bits[c * w + x + run] == v { run += 1 }
                    let ch = 63 + v
                    if run > 3 { out += Array("!\(run)".utf8); out.append(ch) } else { out += [UInt8](repeating: ch, count: run) }
                    x += run
                }
                for i in 0..<w { bits[c * w + i] = 0 }
                present[c] = false
            }
            out.append(0x2D)  // '-': next band
        }
        out += st
        return out
    }
}

/// Reduces an image to at most `maxColors` colours: exact when it has that few, else median cut
/// (Heckbert, "Color image quantization for frame buffer display", 1982) weighted by pixel counts,
/// refined by k-means.
enum ColorReducer {
    static func reduce(_ image: RGBImage, maxColors: Int) -> (palette: [RGB], index: [UInt16]) {
        let n = image.width * image.height
        var counts: [RGB: Int] = [:]
        var px = [RGB](repeating: 0, count: n)
        image.pixels.withUnsafeBufferPointer { p in
            for i in 0..<n {
                let c = rgb(p[i * 3], p[i * 3 + 1], p[i * 3 + 2])
                px[i] = c
                counts[c, default: 0] += 1
            }
        }
        var palette: [RGB]
        var lookup: [RGB: UInt16] = [:]
        if counts.count <= maxColors {
            palette = counts.keys.sorted()
            for (i, c) in palette.enumerated() { lookup[c] = UInt16(i) }
        } else {
            let uniques = counts.map { ($0.key, $0.value) }
            palette = medianCut(uniques, maxColors)
            // A few Lloyd (k-means) passes move each register to the mean of the colours it stands for.
            let passes = uniques.count * palette.count <= 1 << 23 ? 3 : 0
            for _ in 0..<passes {
                var sums = [(Int, Int, Int, Int)](repeating: (0, 0, 0, 0), count: palette.count)
                for (c, n) in uniques {
                    let i = nearest(c, palette)
                    let (r, g, b) = channels(c)
                    sums[i] = (sums[i].0 + r * n, sums[i].1 + g * n, sums[i].2 + b * n, sums[i].3 + n)
                }
                for (i, s) in sums.enumerated() where s.3 > 0 {
                    palette[i] = rgb(UInt8((s.0 + s.3 / 2) / s.3), UInt8((s.1 + s.3 / 2) / s.3), UInt8((s.2 + s.3 / 2) / s.3))
                }
            }
            for (c, _) in uniques { lookup[c] = UInt16(nearest(c, palette)) }
        }
        return (palette, px.map { lookup[$0]! })
    }

    /// The palette entry closest in RGB (squared distance).
    static func nearest(_ c: RGB, _ palette: [RGB]) -> Int {
        let (r, g, b) = channels(c)
        var best = 0, bestD = Int.max
        for (i, p) in palette.enumerated() {
            let (pr, pg, pb) = channels(p)
            let d = (r - pr) * (r - pr) + (g - pg) * (g - pg) + (b - pb) * (b - pb)
            if d < bestD { bestD = d; best = i }
        }
        return best
    }

    static func medianCut(_ colors: [(RGB, Int)], _ k: Int) -> [RGB] {
        var boxes: [[(RGB, Int)]] = [colors]
        func range(_ box: [(RGB, Int)], _ shift: RGB) -> Int {
            var lo = 255, hi = 0
            for (c, _) in box { let v = Int(c >> shift & 0xFF); lo = min(lo, v); hi = max(hi, v) }
            return hi - lo
        }
        while boxes.count < k {
            // Split the box with the widest channel range (ties: the most pixels).
            var pick = -1, pickRange = 0, pickShift: RGB = 0
            for (i, b) in boxes.enumerated() where b.count > 1 {
                for s: RGB in [16, 8, 0] {
                    let r = range(b, s)
                    if r > pickRange { pick = i; pickRange = r; pickShift = s }
                }
            }
            guard pick >= 0 else { break }
            let box = boxes[pick].sorted { ($0.0 >> pickShift & 0xFF) < ($1.0 >> pickShift & 0xFF) }
            let total = box.reduce(0) { $0 + $1.1 }
            var acc = 0, cut = 1
            for (i, e) in box.enumerated() {
                acc += e.1
                if acc * 2 >= total { cut = max(1, min(box.count - 1, i + 1)); break }
            }
            boxes[pick] = Array(box[..<cut])
            boxes.append(Array(box[cut...]))
        }
        return boxes.map { box in
            var s = (0, 0, 0), n = 0
            for (c, k) in box {
                let (r, g, b) = channels(c)
                s = (s.0 + r * k, s.1 + g * k, s.2 + b * k)
                n += k
            }
            return rgb(UInt8(s.0 / n), UInt8(s.1 / n), UInt8(s.2 / n))
        }
    }
}

/// The kitty graphics protocol (sw.kovidgoyal.net/kitty/graphics-protocol): APC `_G` commands with
/// `key=value` controls and a base64 payload sent in chunks of at most 4096 bytes.
enum KittyEncoder {
    static let chunkSize = 4096

    /// `ESC _G controls ; payload ESC \`, wrapped for tmux passthrough when asked.
    static func command(_ controls: String, payload: String = "", tmux: Bool) -> [UInt8] {
        var seq = [esc] + Array("_G\(controls)".utf8)
        if !payload.isEmpty { seq += [0x3B] + Array(payload.utf8) }
        seq += st
        return tmux ? TmuxPassthrough.wrap(seq) : seq
    }

    /// Uploads image `id` without showing it (a=t), quietly (q=2: no replies that could land in the key
    /// queue), as PNG (f=100: an enlarged picture compresses to a few per cent of its raw 24-bit size)
    /// or raw 24-bit RGB (f=24). Only the first chunk carries the full controls.
    static func transmit(_ image: RGBImage, id: Int, tmux: Bool, png: Bool = true) -> [UInt8] {
        let data: [UInt8]
        let format: String
        if png, let encoded = try? PNG.encode(image) {
            data = encoded
            format = "f=100"
        } else {
            data = image.pixels
            format = "f=24,s=\(image.width),v=\(image.height)"
        }
        let b64 = Data(data).base64EncodedString()
        let utf8 = Array(b64.utf8)
        var out = [UInt8]()
        var start = 0
        repeat {
            let end = min(utf8.count, start + chunkSize)
            let more = end < utf8.count ? 1 : 0
            let chunk = String(decoding: utf8[start..<end], as: UTF8.self)
            let controls = start == 0
                ? "a=t,\(format),i=\(id),q=2,m=\(more)"
                : "m=\(more),q=2"
            out += command(controls, payload: chunk, tmux: tmux)
            start = end
        } while start < utf8.count
        return out
    }

    /// Shows image `id` at the cursor as placement `placement` (re-placing replaces it), offset by
    /// `dx`,`dy` pixels inside the cell; the cursor does not move (C=1).
    static func place(id: Int, placement: Int, dx: Int, dy: Int, tmux: Bool) -> [UInt8] {
        command("a=p,i=\(id),p=\(placement),X=\(dx),Y=\(dy),C=1,q=2", tmux: tmux)
    }

    /// A virtual placement for Unicode placeholders: image `id` fitted into `cols`×`rows` cells wherever
    /// placeholder cells with its id appear.
    static func placeVirtual(id: Int, cols: Int, rows: Int, tmux: Bool) -> [UInt8] {
        command("a=p,U=1,i=\(id),c=\(cols),r=\(rows),q=2", tmux: tmux)
    }

    /// Removes placement `placement` of image `id` (the data stays for a later a=p).
    static func deletePlacement(id: Int, placement: Int, tmux: Bool) -> [UInt8] {
        command("a=d,d=i,i=\(id),p=\(placement),q=2", tmux: tmux)
    }

    /// Removes image `id` and frees its data (upper-case `I`).
    static func deleteImage(id: Int, tmux: Bool) -> [UInt8] {
        command("a=d,d=I,i=\(id),q=2", tmux: tmux)
    }

    /// The support query (kitty docs, "Querying support and available transmission mediums"): a 1×1
    /// image that is checked but never stored; a terminal with the protocol answers `_Gi=31;OK`.
    static func query(tmux: Bool) -> [UInt8] {
        command("i=31,s=1,v=1,a=q,t=d,f=24", payload: "AAAA", tmux: tmux)
    }
}

/// tmux passes an escape sequence to the outer terminal when wrapped as `ESC Ptmux; … ESC \` with
/// every ESC inside doubled (tmux(1), allow-passthrough).
enum TmuxPassthrough {
    static func wrap(_ seq: [UInt8]) -> [UInt8] {
        var out = [esc] + Array("Ptmux;".utf8)
        for b in seq { if b == esc { out += [esc, esc] } else { out.append(b) } }
        return out + st
    }
}

/// iTerm2 inline images (iterm2.com/documentation-images.html): OSC 1337 `File=` with a base64 PNG.
/// Since iTerm2 3.5 one sequence may hold at most 1 MiB, so larger files go in the multipart form.
enum ITermEncoder {
    static let singleLimit = 1 << 20
    static let partSize = 512 * 1024

    static func encode(_ image: RGBImage, tmux: Bool) -> [UInt8] {
        guard let png = try? PNG.encode(image) else { return [] }
        let b64 = Data(png).base64EncodedString()
        let args = "inline=1;size=\(png.count);width=\(image.width)px;height=\(image.height)px;preserveAspectRatio=1"
        func osc(_ body: String) -> [UInt8] {
            let seq = [esc] + Array("]1337;\(body)".utf8) + [0x07]
            return tmux ? TmuxPassthrough.wrap(seq) : seq
        }
        if b64.utf8.count <= singleLimit - 256 { return osc("File=\(args):\(b64)") }
        var out = osc("MultipartFile=\(args)")
        let utf8 = Array(b64.utf8)
        for start in stride(from: 0, to: utf8.count, by: partSize) {
            out += osc("FilePart=" + String(decoding: utf8[start..<min(utf8.count, start + partSize)], as: UTF8.self))
        }
        return out + osc("FileEnd")
    }
}

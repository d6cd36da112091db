import Foundation
import ScalewiseEngine

/// Independent decoders for what the terminal receives, written from the protocol documents, so that
/// the tests check the bytes a terminal would see rather than the encoder's own data structures.
enum GraphicsDecode {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// A DCS sixel string (VT330/VT340 Programmer Reference, ch. 14) → RGB pixels. Colour registers in
    /// RGB percent (`#n;2;r;g;b`); `$` returns to the band start, `-` starts the next band, `!n` repeats.
    static func sixel(_ bytes: [UInt8]) throws -> RGBImage {
        guard let q = bytes.firstIndex(of: 0x71), bytes.first == 0x1B, bytes.count > 2, bytes[1] == 0x50 else {
            throw Failure(description: "not a DCS sixel string")
        }
        var i = q + 1
        var width = 0, height = 0
        var palette = [Int: (UInt8, UInt8, UInt8)]()
        var pixels = [Int: (UInt8, UInt8, UInt8)]()  // y * 100000 + x
        var x = 0, band = 0, color = 0
        var maxX = 0, maxY = 0
        func number() -> Int {
            var v = 0
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { v = v * 10 + Int(bytes[i] - 0x30); i += 1 }
            return v
        }
        func numbers() -> [Int] {
            var out = [number()]
            while i < bytes.count, bytes[i] == 0x3B { i += 1; out.append(number()) }
            return out
        }
        func paint(_ ch: UInt8, _ count: Int) {
            let bits = Int(ch) - 63
            for _ in 0..<count {
                for dy in 0..<6 where bits >> dy & 1 == 1 {
                    let y = band * 6 + dy
                    pixels[y * 100000 + x] = palette[color] ?? (0, 0, 0)
                    maxX = max(maxX, x + 1); maxY = max(maxY, y + 1)
                }
                x += 1
            }
        }
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case 0x1B: i = bytes.count  // ST
            case 0x22: i += 1; let v = numbers(); if v.count >= 4 { width = v[2]; height = v[3] }
            case 0x23:
                i += 1
                let v = numbers()
                color = v[0]
                if v.count == 5 {
                    guard v[1] == 2 else { throw Failure(description: "colour space \(v[1]) is not RGB") }
                    func c(_ p: Int) -> UInt8 { UInt8((p * 255 + 50) / 100) }
                    palette[color] = (c(v[2]), c(v[3]), c(v[4]))
                }
            case 0x21: i += 1; let n = number(); paint(bytes[i], n); i += 1
            case 0x24: x = 0; i += 1
            case 0x2D: x = 0; band += 1; i += 1
            case 0x3F...0x7E: paint(b, 1); i += 1
            default: i += 1
            }
        }
        let w = max(width, maxX), h = max(height, maxY)
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for (k, c) in pixels {
            let y = k / 100000, xx = k % 100000
            guard y < h, xx < w else { continue }
            px[(y * w + xx) * 3] = c.0; px[(y * w + xx) * 3 + 1] = c.1; px[(y * w + xx) * 3 + 2] = c.2
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// One kitty APC command, split into its controls and payload.
    struct KittyCommand {
        var controls: [String: String]
        var payload: String
    }

    /// Every `ESC _G … ESC \` in `stream` (after undoing tmux passthrough doubling if asked).
    static func kittyCommands(_ stream: [UInt8]) -> [KittyCommand] {
        var out = [KittyCommand]()
        var i = 0
        while i + 2 < stream.count {
            if stream[i] == 0x1B, stream[i + 1] == 0x5F, stream[i + 2] == 0x47 {
                var j = i + 3
                while j + 1 < stream.count && !(stream[j] == 0x1B && stream[j + 1] == 0x5C) { j += 1 }
                let body = String(decoding: stream[(i + 3)..<min(j, stream.count)], as: UTF8.self)
                let parts = body.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)
                var controls = [String: String]()
                for kv in parts[0].split(separator: ",") {
                    let p = kv.split(separator: "=", maxSplits: 1)
                    if p.count == 2 { controls[String(p[0])] = String(p[1]) }
                }
                out.append(KittyCommand(controls: controls, payload: parts.count > 1 ? String(parts[1]) : ""))
                i = j + 2
            } else {
                i += 1
            }
        }
        return out
    }

    /// Reassembles chunked transmissions (m=1 … m=0): image id → picture; f=24 raw RGB with s and v,
    /// or f=100 PNG (decoded with libpng through the engine).
    static func kittyImages(_ commands: [KittyCommand]) throws -> [Int: RGBImage] {
        var out = [Int: RGBImage]()
        var current: (controls: [String: String], b64: String)?
        func finish(_ controls: [String: String], _ b64: String) throws {
            guard let id = controls["i"].flatMap(Int.init), let data = Data(base64Encoded: b64) else {
                throw Failure(description: "transmission without an id or with bad base64: \(controls)")
            }
            switch controls["f"] {
            case "24":
                guard let w = controls["s"].flatMap(Int.init), let h = controls["v"].flatMap(Int.init), data.count == w * h * 3 else {
                    throw Failure(description: "image \(id): payload is not s×v RGB")
                }
                out[id] = RGBImage(width: w, height: h, pixels: Array(data))
            case "100":
                let path = FileManager.default.temporaryDirectory.appendingPathComponent("kitty-\(getpid())-\(id).png").path
                try data.write(to: URL(fileURLWithPath: path))
                defer { unlink(path) }
                out[id] = try PNG.read(path).0
            default:
                throw Failure(description: "image \(id): format \(controls["f"] ?? "none")")
            }
        }
        for c in commands {
            if current != nil {
                current!.b64 += c.payload
                if c.controls["m"] == "0" { try finish(current!.controls, current!.b64); current = nil }
                continue
            }
            guard c.controls["a"] == "t" || c.controls["a"] == "T" else { continue }
            if c.controls["m"] == "1" { current = (c.controls, c.payload) } else { try finish(c.controls, c.payload) }
        }
        return out
    }

    /// Every DCS string in `stream` that is a sixel image.
    static func sixelStrings(_ stream: [UInt8]) -> [[UInt8]] {
        var out = [[UInt8]]()
        var i = 0
        while i + 1 < stream.count {
            if stream[i] == 0x1B, stream[i + 1] == 0x50 {
                var j = i + 2
                while j + 1 < stream.count && !(stream[j] == 0x1B && stream[j + 1] == 0x5C) { j += 1 }
                let s = Array(stream[i..<min(j + 2, stream.count)])
                if s.contains(0x71) { out.append(s) }
                i = j + 2
            } else {
                i += 1
            }
        }
        return out
    }

    /// The PNG inside an iTerm2 `OSC 1337 ; File=…:base64 BEL`, single or multipart.
    static func itermPNG(_ seq: [UInt8]) throws -> [UInt8] {
        let s = String(decoding: seq, as: UTF8.self)
        var b64 = ""
        for part in s.components(separatedBy: "\u{1B}]1337;").dropFirst() {
            let body = part.prefix { $0 != "\u{07}" }
            if body.hasPrefix("File="), let colon = body.firstIndex(of: ":") { b64 += body[body.index(after: colon)...] }
            if body.hasPrefix("FilePart=") { b64 += body.dropFirst("FilePart=".count) }
        }
        guard let data = Data(base64Encoded: b64) else { throw Failure(description: "bad base64 in the iTerm2 sequence") }
        return Array(data)
    }

    /// `z`×`z` blocks of equal pixels, each becoming one pixel; nil when a block is not uniform.
    static func unzoom(_ img: RGBImage, by z: Int) -> RGBImage? {
        guard z >= 1, img.width % z == 0, img.height % z == 0 else { return nil }
        let w = img.width / z, h = img.height / z
        var px = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<img.height {
            for x in 0..<img.width {
                for ch in 0..<3 {
                    let v = img.pixels[(y * img.width + x) * 3 + ch]
                    let d = ((y / z) * w + x / z) * 3 + ch
                    if x % z == 0 && y % z == 0 { px[d] = v } else if px[d] != v { return nil }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    static func maxDifference(_ a: RGBImage, _ b: RGBImage) -> Int {
        guard a.width == b.width, a.height == b.height else { return Int.max }
        return zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }
}

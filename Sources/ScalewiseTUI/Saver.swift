import Foundation
import ScalewiseEngine

/// Writes what `s` and `S` save. Runs on the worker thread (it decodes through the session).
enum Saver {
    /// The final image as PNG; with `strip`, also every scale's decode side by side and an animated PNG
    /// of the progression. Names are fresh: an existing file is never replaced. An `edit` is recorded in the
    /// metadata and marks the name (`-edit`).
    static func save(_ gen: Generator, _ session: GenerationSession, dir: String, strip: Bool,
                     edit: String? = nil) throws -> [String] {
        var rec = GenerationRecord(generator: gen, session: session)
        rec.edit = edit
        let text = try Saver.text(rec)
        let base = dir + "/" + baseName(rec) + (edit == nil ? "" : "-edit")
        if !strip {
            let image = session.preview(after: session.completed, tier: .decoded)
            return [try writeFresh(base, ".png") { try PNG.write(image, text: text, to: $0) }]
        }
        let frames = (1...session.completed).map { session.preview(after: $0, tier: .decoded) }
        let stripImage = sideBySide(frames, gap: 2)
        let s = try writeFresh(base + "-strip", ".png") { try PNG.write(stripImage, text: text, to: $0) }
        // The last frame first would spoil the animation in viewers without APNG support; they show
        // frame 0, so the coarse 1×1 start is what they see. 600 ms per scale reads well in a demo.
        let a = try writeFresh(base + "-anim", ".png") { try APNG.write(frames: frames, delayMs: 600, text: text, to: $0) }
        return [s, a]
    }

    /// The PNG text chunks of a record: A1111's `parameters` and the `scalewise` JSON.
    static func text(_ rec: GenerationRecord) throws -> [(String, String)] {
        [("parameters", rec.a1111), ("scalewise", try rec.json)]
    }

    /// `scalewise-<class>-<seed>`, the class reduced to filename-safe characters; a re-rolled image (or a kept
    /// variation) adds where its own seeds start, `-0r7`: seed 0 alone does not make it.
    static func baseName(_ rec: GenerationRecord) -> String {
        baseName(className: rec.className, seed: rec.seed) + (rec.rerolledFrom.map { "r\($0)" } ?? "")
    }

    static func baseName(className: String, seed: UInt64) -> String {
        let safe = className.unicodeScalars.map { c -> String in
            c.properties.isAlphabetic || ("0"..."9").contains(c) ? String(c) : "_"
        }.joined()
        return "scalewise-\(safe.prefix(40))-\(seed)"
    }

    /// Tries `base.ext`, `base-1.ext`, … and lets the atomic writer refuse existing names, so two
    /// processes saving at once cannot overwrite each other either.
    static func writeFresh(_ base: String, _ ext: String, _ write: (String) throws -> Void) throws -> String {
        for i in 0..<10_000 {
            let path = i == 0 ? base + ext : "\(base)-\(i)\(ext)"
            if FileManager.default.fileExists(atPath: path) { continue }
            do {
                try write(path)
                return path
            } catch let e as FileWriteError where e.kind == .exists {
                continue
            }
        }
        throw TUIError("no free file name for \(base)\(ext)")
    }

    /// Images of equal height in a row with a `gap`-pixel black gutter.
    static func sideBySide(_ images: [RGBImage], gap: Int) -> RGBImage {
        let h = images.map(\.height).max() ?? 1
        let w = images.map(\.width).reduce(0, +) + gap * max(0, images.count - 1)
        var out = RGBImage(width: max(1, w), height: h)
        var ox = 0
        for img in images {
            for y in 0..<img.height {
                let src = y * img.width * 3, dst = (y * out.width + ox) * 3
                out.pixels.replaceSubrange(dst..<(dst + img.width * 3), with: img.pixels[src..<(src + img.width * 3)])
            }
            ox += img.width + gap
        }
        return out
    }
}

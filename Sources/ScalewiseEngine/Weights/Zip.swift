/// Just enough of ZIP to read PyTorch checkpoints: the central directory (with ZIP64, since official
/// checkpoints reach 8 GB) and STORED entries, whose bytes are then used in place from the map.
/// PyTorch never compresses; a compressed or encrypted entry is reported, not inflated.
struct ZipArchive {
    struct Entry {
        let name: String
        let method: UInt16
        let flags: UInt16
        let compressedSize: Int
        let size: Int
        let localHeaderOffset: Int
    }

    let file: MappedFile
    let entries: [Entry]
    private let index: [String: Int]

    private static let eocdSignature: UInt64 = 0x0605_4b50
    private static let zip64LocatorSignature: UInt64 = 0x0706_4b50
    private static let zip64EOCDSignature: UInt64 = 0x0606_4b50
    private static let centralSignature: UInt64 = 0x0201_4b50
    private static let localSignature: UInt64 = 0x0403_4b50

    init(file: MappedFile) throws {
        self.file = file
        let path = file.path
        func bad(_ detail: String) -> WeightsError { WeightsError(.badZip, file: path, detail) }
        guard file.uint(at: 0, width: 4) == Self.localSignature else {
            if file.count >= 2, file.uint(at: 0, width: 2) == 0x0280 {
                throw WeightsError(.unsupported, file: path, "legacy (pre-1.6, non-zip) torch.save format; re-save it with a newer PyTorch")
            }
            throw bad("not a zip archive (a PyTorch checkpoint starts with \"PK\")")
        }
        // The end-of-central-directory record is in the last 22 + 65535 (max comment) bytes.
        var eocd = -1
        let tailStart = max(0, file.count - 22 - 0xFFFF)
        if let tail = file.bytes(tailStart, file.count - tailStart), tail.count >= 22 {
            var i = tail.count - 22
            while i >= 0 {
                if tail[i] == 0x50, tail[i + 1] == 0x4B, tail[i + 2] == 5, tail[i + 3] == 6,
                   i + 22 + (Int(tail[i + 20]) | Int(tail[i + 21]) << 8) <= tail.count {
                    eocd = tailStart + i
                    break
                }
                i -= 1
            }
        }
        guard eocd >= 0 else { throw bad("no end-of-central-directory record (truncated file?)") }
        var count = Int(file.uint(at: eocd + 10, width: 2)!)
        var cdSize = Int(file.uint(at: eocd + 12, width: 4)!)
        var cdOffset = Int(file.uint(at: eocd + 16, width: 4)!)
        if eocd >= 20, file.uint(at: eocd - 20, width: 4) == Self.zip64LocatorSignature {
            guard let z = file.uint(at: eocd - 12, width: 8), z < 1 << 62, file.uint(at: Int(z), width: 4) == Self.zip64EOCDSignature,
                  let n = file.uint(at: Int(z) + 32, width: 8), let size = file.uint(at: Int(z) + 40, width: 8),
                  let offset = file.uint(at: Int(z) + 48, width: 8), n < 1 << 40, size < 1 << 60, offset < 1 << 60 else {
                throw bad("corrupt ZIP64 end-of-central-directory record")
            }
            (count, cdSize, cdOffset) = (Int(n), Int(size), Int(offset))
        }
        guard file.bytes(cdOffset, cdSize) != nil else {
            throw bad("central directory [\(cdOffset), +\(cdSize)] lies outside the file (\(file.count) bytes)")
        }
        guard count <= cdSize / 46 else { throw bad("central directory claims \(count) entries in \(cdSize) bytes") }
        var entries: [Entry] = []
        entries.reserveCapacity(count)
        var p = cdOffset
        let end = cdOffset + cdSize
        for i in 0..<count {
            guard p + 46 <= end, file.uint(at: p, width: 4) == Self.centralSignature else { throw bad("central directory entry \(i) is corrupt") }
            let u = { (o: Int, w: Int) in Int(file.uint(at: p + o, width: w)!) }
            let (nameLength, extraLength, commentLength) = (u(28, 2), u(30, 2), u(32, 2))
            let next = p + 46 + nameLength + extraLength + commentLength
            guard next <= end, let nameBytes = file.bytes(p + 46, nameLength) else { throw bad("central directory entry \(i) is corrupt") }
            var sizes = [u(24, 4), u(20, 4), u(42, 4)]  // uncompressed, compressed, local header offset
            try Self.applyZip64Extra(file, at: p + 46 + nameLength, length: extraLength, to: &sizes) {
                bad("central directory entry \(i) has a corrupt ZIP64 field")
            }
            entries.append(Entry(name: String(decoding: nameBytes, as: UTF8.self), method: UInt16(u(10, 2)), flags: UInt16(u(8, 2)),
                                 compressedSize: sizes[1], size: sizes[0], localHeaderOffset: sizes[2]))
            p = next
        }
        self.entries = entries
        var index: [String: Int] = [:]
        for (i, e) in entries.enumerated() where index[e.name] == nil { index[e.name] = i }
        self.index = index
    }

    /// ZIP64 extended information (header id 1): 8-byte replacements, in this order, for exactly those
    /// of uncompressed size, compressed size and local header offset whose 32-bit field is 0xFFFFFFFF.
    private static func applyZip64Extra(_ file: MappedFile, at start: Int, length: Int, to sizes: inout [Int],
                                        _ bad: () -> WeightsError) throws {
        var q = start
        while q + 4 <= start + length {
            let id = file.uint(at: q, width: 2)!
            let size = Int(file.uint(at: q + 2, width: 2)!)
            guard q + 4 + size <= start + length else { throw bad() }
            if id == 1 {
                var r = q + 4
                for k in 0..<3 where sizes[k] == 0xFFFF_FFFF {
                    guard r + 8 <= q + 4 + size, let v = file.uint(at: r, width: 8), v < 1 << 62 else { throw bad() }
                    sizes[k] = Int(v)
                    r += 8
                }
            }
            q += 4 + size
        }
    }

    func entry(named name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The entry's bytes in the file, as (offset, length); only uncompressed entries can be used in place.
    func storedRange(of e: Entry) throws -> (offset: Int, length: Int) {
        let path = file.path
        guard e.flags & 1 == 0 else { throw WeightsError(.unsupported, file: path, "zip entry '\(e.name)' is encrypted") }
        guard e.method == 0 else {
            throw WeightsError(.unsupported, file: path,
                               "zip entry '\(e.name)' is compressed (method \(e.method)); PyTorch checkpoints store entries uncompressed, so re-save with torch.save")
        }
        guard e.compressedSize == e.size else { throw WeightsError(.badZip, file: path, "zip entry '\(e.name)' has inconsistent sizes") }
        let h = e.localHeaderOffset
        guard file.uint(at: h, width: 4) == Self.localSignature, let nameLength = file.uint(at: h + 26, width: 2),
              let extraLength = file.uint(at: h + 28, width: 2) else {
            throw WeightsError(.badZip, file: path, "zip entry '\(e.name)' has no valid local header at \(h)")
        }
        let start = h + 30 + Int(nameLength) + Int(extraLength)
        guard file.bytes(start, e.size) != nil else {
            throw WeightsError(.badZip, file: path, "zip entry '\(e.name)' [\(start), +\(e.size)] runs past the end of the file")
        }
        return (start, e.size)
    }
}

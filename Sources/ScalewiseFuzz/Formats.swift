import Foundation

/// `.pth` (a STORED zip holding `data.pkl` and the storages): the pickle is mutated and the zip rebuilt,
/// or the zip's own bytes are.
public enum PthMutator {
    /// (name, bytes) of every entry of a STORED zip without ZIP64, nil when it is not one.
    static func entries(_ z: [UInt8]) -> [(String, [UInt8])]? {
        func u(_ o: Int, _ w: Int) -> Int? {
            guard o >= 0, o + w <= z.count else { return nil }
            return (0..<w).reduce(0) { $0 | Int(z[o + $1]) << (8 * $1) }
        }
        guard z.count >= 22, let eocd = (0...(z.count - 22)).reversed().first(where: { u($0, 4) == 0x0605_4b50 }),
              let count = u(eocd + 10, 2), var p = u(eocd + 16, 4) else { return nil }
        var out: [(String, [UInt8])] = []
        for _ in 0..<count {
            guard u(p, 4) == 0x0201_4b50, let size = u(p + 20, 4), let nl = u(p + 28, 2), let el = u(p + 30, 2),
                  let cl = u(p + 32, 2), let local = u(p + 42, 4), p + 46 + nl <= z.count,
                  let lnl = u(local + 26, 2), let lel = u(local + 28, 2) else { return nil }
            let name = String(decoding: z[(p + 46)..<(p + 46 + nl)], as: UTF8.self)
            let start = local + 30 + lnl + lel
            guard start + size <= z.count else { return nil }
            out.append((name, Array(z[start..<(start + size)])))
            p += 46 + nl + el + cl
        }
        return out
    }

    /// A STORED zip of `entries` (CRCs left 0: the reader does not check them).
    public static func zip(_ entries: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        func u16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: Int, _ a: inout [UInt8]) { for i in 0..<4 { a.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        for (name, data) in entries {
            let offset = out.count, n = Array(name.utf8)
            u32(0x04034b50, &out); u16(20, &out); u16(0, &out); u16(0, &out); u16(0, &out); u16(0, &out)
            u32(0, &out); u32(data.count, &out); u32(data.count, &out); u16(n.count, &out); u16(0, &out)
            out += n + data
            u32(0x02014b50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(0, &central)
            u16(0, &central); u16(0, &central); u32(0, &central); u32(data.count, &central); u32(data.count, &central)
            u16(n.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(offset, &central)
            central += n
        }
        let cdOffset = out.count
        out += central
        u32(0x06054b50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
        u32(central.count, &out); u32(cdOffset, &out); u16(0, &out)
        return out
    }

    /// Opcode sequences that stress an unpickler: deep nesting, many values, memo abuse, calls to
    /// callables that must never run.
    static func snippet(_ rng: inout FuzzRng) -> [UInt8] {
        let n = rng.pick([2, 100, 1000, 150_000, 300_000])
        switch rng.below(9) {
        case 0: return [0x29] + [UInt8](repeating: 0x85, count: n)                          // nested tuples
        case 1: return [UInt8](repeating: 0x5D, count: 1) + Array(repeating: [0x5D, 0x61], count: n).flatMap { $0 }  // list chains
        case 2: return [0x4E] + [UInt8](repeating: 0x32, count: n)                           // DUP spam
        case 3: return [UInt8](repeating: 0x28, count: n)                                    // MARK spam
        case 4: return [0x6A, 0xFF, 0xFF, 0xFF, 0x7F]                                         // LONG_BINGET of an unset key
        case 5: return Array("cos\nsystem\n".utf8) + [0x8C, 2] + Array("id".utf8) + [0x85, 0x52]  // os.system('id')
        case 6: return [0x72, 0xFF, 0xFF, 0xFF, 0xFF]                                        // LONG_BINPUT huge key
        case 7: return [0x8B, 0xFF, 0xFF, 0xFF, 0x7F]                                        // LONG4 of 2^31 bytes
        default: return [0x4A] + (0..<4).map { _ in UInt8(rng.below(256)) }                   // BININT
        }
    }

    static func mutatePickle(_ p: inout [UInt8], _ rng: inout FuzzRng) {
        switch rng.below(5) {
        case 0:  // an interesting integer in place of a BININT's operand
            let sites = p.indices.filter { p[$0] == 0x4A && $0 + 4 < p.count }
            if let at = sites.isEmpty ? nil : rng.pick(sites) {
                let v = rng.pick(Interesting.int32s)
                for i in 0..<4 { p[at + 1 + i] = UInt8(truncatingIfNeeded: v >> Int64(8 * i)) }
                return
            }
            ByteMutator.mutate(&p, &rng)
        case 1: p.insert(contentsOf: snippet(&rng), at: rng.below(p.count + 1))
        case 2: p.insert(contentsOf: snippet(&rng), at: max(0, p.count - 1))  // just before STOP
        default: ByteMutator.mutate(&p, &rng, rounds: 1 + rng.below(3))
        }
    }

    static func mutate(_ file: [UInt8], _ rng: inout FuzzRng) -> [UInt8] {
        guard rng.chance(0.8), var items = entries(file), let k = items.firstIndex(where: { $0.0.hasSuffix("data.pkl") }) else {
            var f = file
            ByteMutator.mutate(&f, &rng, rounds: 1 + rng.below(3))
            return f
        }
        mutatePickle(&items[k].1, &rng)
        return zip(items)
    }
}

/// PNGs carrying a `scalewise` record: the record's JSON is mutated field by field and written back as an
/// iTXt chunk (valid CRC), or the file's bytes are.
enum PNGMutator {
    static func chunks(_ png: [UInt8]) -> [(String, [UInt8])]? {
        guard png.count >= 8 else { return nil }
        var p = 8, out: [(String, [UInt8])] = []
        while p + 12 <= png.count {
            let n = Int(png[p]) << 24 | Int(png[p + 1]) << 16 | Int(png[p + 2]) << 8 | Int(png[p + 3])
            guard p + 12 + n <= png.count else { return nil }
            out.append((String(decoding: png[(p + 4)..<(p + 8)], as: UTF8.self), Array(png[(p + 8)..<(p + 8 + n)])))
            p += 12 + n
        }
        return out
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    static func encode(_ chunks: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        for (type, data) in chunks {
            let n = data.count, body = Array(type.utf8) + data, crc = crc32(body)
            out += [UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + body
            out += [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
        }
        return out
    }

    /// The record with one field set to a hostile value (or a schedule of hostile sizes).
    static func mutateRecord(_ json: String, _ rng: inout FuzzRng, fifo: String) -> String {
        guard var obj = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any], !obj.isEmpty else { return json }
        let keys = obj.keys.sorted() + ["temperature", "scale_seeds", "edit", "precision", "constant_cfg", "cfg_mode", "grid",
                                        "model_file", "tokenizer_file", "model_sha256", "tokenizer_sha256"]
        let key = rng.pick(keys)
        let sizes = [0, 1, 2, 3, 8, 16, 64, 257, 3000, 65536, 1 << 31, 1 << 32, Int.max, -1]
        switch rng.below(8) {
        case 6: obj["cfg_mode"] = SafeTensorsMutator.cfgMode(&rng)
        case 7 where rng.chance(0.5):
            // A weight hash: malformed (length, case, digits, escapes) or well-formed but of other bytes.
            let other = String(repeating: "0123456789abcdef", count: 4)
            obj[rng.pick(["model_sha256", "tokenizer_sha256"])] = rng.pick([
                other, other.uppercased(), String(other.dropLast()), other + "0", String(other.dropLast()) + "g",
                "", "\u{1B}[2J" + other.dropFirst(4), String(repeating: "f", count: 3000), 7,
            ] as [Any])
        case 7:
            // A model file named by path: a FIFO, a device, a folder, a size that does not match.
            obj[rng.pick(["model_file", "tokenizer_file"])] = rng.pick([
                ["path": fifo, "bytes": 0], ["path": "/dev/zero", "bytes": 0], ["path": ".", "bytes": 4096],
                ["path": "absent.safetensors", "bytes": 1], ["path": "in.png", "bytes": -1], ["path": 3], [:], "x",
            ] as [Any])
        case 0: obj[key] = rng.pick([0, -1, 1, 3, Int(Int32.max), 1 << 31, 1 << 32, Int.max, Int.min] as [Int])
        case 1: obj[key] = rng.pick([0, -3, 0.5, 7, 1e19, 1e30, 1e300, -1e300] as [Double])
        case 2: obj[key] = rng.pick(["", "\u{1B}]0;x\u{07}", fifo, "/dev/zero", "../../x", "bf16", "int4", String(repeating: "a", count: 3000)])
        case 3: obj[key] = NSNull()
        case 4:
            obj["schedule"] = (0..<(1 + rng.below(4))).map { i in
                i == 0 && rng.chance(0.5) ? ["h": 1, "w": 1] : ["h": rng.pick(sizes), "w": rng.pick(sizes)]
            }
        default: obj.removeValue(forKey: key)
        }
        guard let d = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) else { return json }
        var text = String(decoding: d, as: UTF8.self)
        if rng.chance(0.1) { text = text.replacingOccurrences(of: "1e+30", with: "NaN") }
        return text
    }

    static func mutate(_ file: [UInt8], _ rng: inout FuzzRng, fifo: String) -> [UInt8] {
        guard rng.chance(0.85), var cs = chunks(file),
              let k = cs.firstIndex(where: { ($0.0 == "iTXt" || $0.0 == "tEXt") && $0.1.starts(with: Array("scalewise\0".utf8)) }) else {
            var f = file
            ByteMutator.mutate(&f, &rng, rounds: 1 + rng.below(3))
            return f
        }
        let data = cs[k].1
        // tEXt: key\0text; iTXt: key\0 flag method lang\0 translated\0 text.
        let textStart: Int
        if cs[k].0 == "tEXt" {
            textStart = 10
        } else {
            let afterLang = data[12...].firstIndex(of: 0).map { $0 + 1 } ?? data.count
            textStart = data[afterLang...].firstIndex(of: 0).map { $0 + 1 } ?? data.count
        }
        let json = String(decoding: data[textStart...], as: UTF8.self)
        var mutated = mutateRecord(json, &rng, fifo: fifo)
        if rng.chance(0.2) { var b = Array(mutated.utf8); JSONMutator.mutate(&b, &rng); mutated = String(decoding: b, as: UTF8.self) }
        cs[k] = ("iTXt", Array("scalewise".utf8) + [0, 0, 0, 0, 0] + Array(mutated.utf8))
        var out = encode(cs)
        if rng.chance(0.1) { ByteMutator.mutate(&out, &rng) }
        return out
    }
}

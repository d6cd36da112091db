import Foundation

/// SplitMix64: a seeded generator, so mutant i of seed s is the same on every machine and in any order.
public struct FuzzRng {
    var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n (n ≥ 1).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    public mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
    public mutating func pick<T>(_ xs: [T]) -> T { xs[below(xs.count)] }
}

/// Values that break code which trusts its input: boundaries of the integer widths, the square root of
/// Int.max, non-finite and extreme floats, negative sizes.
enum Interesting {
    static let integers: [String] = [
        "0", "1", "-1", "2", "3", "7", "8", "16", "255", "256", "-2", "65535", "65536", "1000", "4096",
        "2147483647", "2147483648", "-2147483648", "4294967295", "4294967296", "3037000500", "9007199254740993",
        "4611686018427387904", "9223372036854775807", "-9223372036854775808", "18446744073709551616",
    ]
    static let reals: [String] = ["0.0", "-0.0", "1e-45", "-3", "0.5", "7", "1e19", "1e30", "1e300", "-1e300", "1e309", "NaN", "Infinity", "-Infinity"]
    static let numbers = integers + reals
    static let strings: [String] = [
        "", "\\u001b]0;x\\u0007", "\\u001b[2J", "../../../../etc/passwd", "/dev/zero", "/dev/stdin", "fifo", "%s%n",
        String(repeating: "A", count: 5000), "\\ud800", "F64", "I8", "BOOL", "X9",
    ]
    static let int32s: [Int64] = [0, 1, -1, 2, 255, 256, 65536, Int64(Int32.max), Int64(Int32.min), 3_037_000_500, 1 << 31]
}

/// Byte-level mutations shared by every format.
enum ByteMutator {
    static func mutate(_ data: inout [UInt8], _ rng: inout FuzzRng, rounds: Int = 1) {
        for _ in 0..<max(1, rounds) {
            guard !data.isEmpty else { data = [UInt8(rng.below(256))]; continue }
            switch rng.below(8) {
            case 0: data[rng.below(data.count)] ^= UInt8(1 << rng.below(8))                  // bit flip
            case 1: data[rng.below(data.count)] = rng.pick([0, 0xFF, 0x7F, 0x80, 0x20, 0x0A, 0x22, 0x5C])
            case 2:                                                                             // interesting integer, LE or BE
                let v = UInt64(bitPattern: rng.pick(Interesting.int32s)), width = rng.pick([2, 4, 8])
                let at = rng.below(data.count), be = rng.chance(0.5)
                for i in 0..<width where at + i < data.count {
                    let shift = UInt64(8 * (be ? width - 1 - i : i))
                    data[at + i] = UInt8(truncatingIfNeeded: v >> shift)
                }
            case 3: data.removeLast(rng.below(data.count))                                     // truncate
            case 4:                                                                             // delete a span
                let a = rng.below(data.count), n = min(rng.below(64) + 1, data.count - a)
                data.removeSubrange(a..<(a + n))
            case 5:                                                                             // duplicate a span
                let a = rng.below(data.count), n = min(rng.below(256) + 1, data.count - a)
                data.insert(contentsOf: data[a..<(a + n)], at: rng.below(data.count))
            case 6: data.insert(UInt8(rng.below(256)), at: rng.below(data.count + 1))          // insert a byte
            default:                                                                            // random run
                let a = rng.below(data.count)
                for i in a..<min(data.count, a + rng.below(16) + 1) { data[i] = UInt8(rng.below(256)) }
            }
        }
    }
}

/// Mutations of JSON text that keep it mostly JSON: numbers replaced by interesting ones, strings by
/// hostile ones, structural characters inserted or deleted. Works inside nested JSON-in-strings too (the
/// `config` metadata), where numbers are still runs of digits.
enum JSONMutator {
    static func numberRanges(_ s: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = [], i = 0
        func isNum(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || c == 0x2E || c == 0x65 || c == 0x45 || c == 0x2B || c == 0x2D }
        while i < s.count {
            if (0x30...0x39).contains(s[i]) || (s[i] == 0x2D && i + 1 < s.count && (0x30...0x39).contains(s[i + 1])) {
                let start = i
                i += 1
                while i < s.count, isNum(s[i]) { i += 1 }
                out.append(start..<i)
            } else {
                i += 1
            }
        }
        return out
    }

    static func mutate(_ text: inout [UInt8], _ rng: inout FuzzRng) {
        let kind = rng.below(10)
        if kind < 6, case let nums = numberRanges(text), !nums.isEmpty {
            text.replaceSubrange(rng.pick(nums), with: Array(rng.pick(Interesting.numbers).utf8))
            return
        }
        if kind < 8 {
            // Replace the body of a string literal.
            let quotes = text.indices.filter { text[$0] == 0x22 && ($0 == 0 || text[$0 - 1] != 0x5C) }
            if quotes.count >= 2 {
                let k = rng.below(quotes.count / 2) * 2
                text.replaceSubrange((quotes[k] + 1)..<quotes[k + 1], with: Array(rng.pick(Interesting.strings).utf8))
                return
            }
        }
        if kind == 8 {
            text.insert(rng.pick(Array("{}[],:\"\\".utf8)), at: rng.below(text.count + 1))
            return
        }
        ByteMutator.mutate(&text, &rng)
    }
}

/// safetensors: `u64 LE header length`, JSON header, data.
enum SafeTensorsMutator {
    /// Fields a model's `config` and `defaults` metadata may hold (ours and the official constructors').
    static let fields = [
        "depth", "embed_dim", "num_heads", "mlp_ratio", "norm_eps", "patch_nums", "num_classes", "vocab_size", "Cvae",
        "kernel_size", "refine_step", "pos_side", "pos_hw", "max_pn", "d_model", "n_layer", "num_tokens", "num_groups",
        "adaln_group", "norm_epsilon", "sample_pos_shift", "z_channels", "ch", "ch_mult", "num_res_blocks", "v_patch_nums",
        "quant_resi", "share_quant_resi", "codebook_size", "codebook_embed_dim", "cfg", "top_k", "top_p", "temperature",
        "more_smooth", "constant_cfg", "cfg_mode",
    ]

    /// The keys of a model's `defaults` metadata.
    static let defaultsFields = ["cfg", "top_k", "top_p", "temperature", "more_smooth", "constant_cfg", "cfg_mode"]

    /// Guidance rules as files and flags spell them, right and wrong.
    static func cfgMode(_ rng: inout FuzzRng) -> Any {
        rng.pick(["ramp", "constant", "sideways", "", "RAMP", "constant ", 1, NSNull(), ["ramp"]] as [Any])
    }

    static func hostileValue(_ rng: inout FuzzRng) -> Any {
        switch rng.below(6) {
        case 0: return rng.pick([0, -1, 1, 2, 3, 7, 65536, Int(Int32.max), 1 << 31, 1 << 32, 3_037_000_500, 1 << 62, Int.max, Int.min] as [Int])
        case 1: return rng.pick([0, -3, 0.5, 7, 1e-45, 1e19, 1e30, 1e300, -1e300] as [Double])
        case 2: return rng.pick([[], [1], [0], [-1], [1, 2, 3_037_000_500], [1, 3000], [1, 1], [3, 2, 1], [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]] as [[Int]])
        case 3: return rng.pick(["", "x", "\u{1B}[2J", "fifo", "/dev/zero"])
        case 4: return rng.chance(0.5)
        default: return NSNull()
        }
    }

    /// The header with one field of its `config` or `defaults` metadata (or a metadata string itself) set to a
    /// hostile value; nil when the header has no such metadata.
    static func metadataMutated(_ header: [UInt8], _ rng: inout FuzzRng) -> [UInt8]? {
        guard var obj = (try? JSONSerialization.jsonObject(with: Data(header))) as? [String: Any],
              var meta = obj["__metadata__"] as? [String: String], !meta.isEmpty else { return nil }
        let key = rng.chance(0.85) ? rng.pick(["config", "defaults", "config", "tokenizer_config"])
            : rng.pick(meta.keys.sorted() + ["tokenizer", "preview", "classes", "family"])
        if ["config", "defaults", "tokenizer_config"].contains(key) {
            var inner = meta[key].flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] } ?? [:]
            // `defaults` refuses keys it does not know before it looks at values: mostly its own keys.
            let known = key == "defaults" && rng.chance(0.8) ? defaultsFields : fields
            for _ in 0..<(1 + rng.below(2)) {
                let k = rng.chance(0.7) && !inner.isEmpty ? rng.pick(inner.keys.sorted()) : rng.pick(known)
                inner[k] = hostileValue(&rng)
            }
            if key == "defaults" && rng.chance(0.3) { inner["cfg_mode"] = cfgMode(&rng) }
            guard let d = try? JSONSerialization.data(withJSONObject: inner, options: [.sortedKeys]) else { return nil }
            meta[key] = String(decoding: d, as: UTF8.self)
        } else {
            meta[key] = rng.pick(["", "fifo", "/dev/zero", "\u{1B}]0;x\u{07}", "[\"a\"]", "{}", String(repeating: "é", count: 4000),
                                  "[[1e300],[],[],[1,2,3]]", "[[],[],[],[]]", "[1,2]", "null", "[\"a\",3]", "vqvae", "nonsense"])
        }
        obj["__metadata__"] = meta
        guard let d = try? JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]) else { return nil }
        return [UInt8](d)
    }

    static func mutate(_ file: [UInt8], _ rng: inout FuzzRng) -> [UInt8] {
        guard file.count >= 8 else { return file }
        let n = Int(file.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        guard n <= file.count - 8 else { var f = file; ByteMutator.mutate(&f, &rng); return f }
        var header = Array(file[8..<(8 + n)])
        let data = Array(file[(8 + n)...])
        switch rng.below(10) {
        case 0..<8:
            if rng.below(8) < 5, let h = metadataMutated(header, &rng) {
                header = h
                if rng.chance(0.1) { JSONMutator.mutate(&header, &rng) }
            } else {
                for _ in 0..<(1 + rng.below(2)) { JSONMutator.mutate(&header, &rng) }
            }
            var out: [UInt8] = []
            let length = rng.chance(0.9) ? UInt64(header.count) : UInt64(n)  // sometimes keep the old length
            for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: length >> UInt64(8 * i))) }
            return out + header + data
        default:
            var f = file
            ByteMutator.mutate(&f, &rng, rounds: 1 + rng.below(4))
            return f
        }
    }
}

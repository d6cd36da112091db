import Foundation

/// The one set of rules for sampling options, whatever they come from: flags, a model's `defaults`
/// metadata, a PNG's record. Same checks, same messages; only the named source differs.
public enum SamplingRules {
    public static let cfg: ClosedRange<Float> = 0...100
    public static let topK: ClosedRange<Int> = 0...(1 << 24)
    public static let topP: ClosedRange<Float> = 0...1
    public static let temperature: ClosedRange<Float> = 0.01...100

    /// Where a value came from, for the message.
    public enum Source: Sendable, CustomStringConvertible {
        /// A command-line flag, e.g. "--cfg".
        case flag(String)
        /// The `defaults` metadata of a model file.
        case defaults(String)
        /// The `scalewise` record of a PNG.
        case record(String)

        public var description: String {
            switch self {
            case .flag(let f): f
            case .defaults(let path): "the defaults of \((path as NSString).lastPathComponent)"
            case .record(let path): "the record in \((path as NSString).lastPathComponent)"
            }
        }

        /// How a message names the value: the setting ("top-k") for a flag, whose own name follows in "from
        /// --top-k"; the key as the file spells it for a file ("record field 'top_k'"), so that a bad record or
        /// model is never mistaken for a bad flag.
        func name(_ setting: String) -> String {
            let key = setting.replacingOccurrences(of: "-", with: "_")
            switch self {
            case .flag: return setting
            case .defaults: return "metadata 'defaults' field '\(key)'"
            case .record: return "record field '\(key)'"
            }
        }
    }

    /// `setting` is the flag's name without dashes ("top-k"); files spell it with an underscore ("top_k").
    static func fail(_ setting: String, _ rule: String, _ value: String, _ source: Source) -> InputError {
        InputError("\(source.name(setting)) must be \(rule), got \(value) from \(source)")
    }

    public static func checkCFG(_ v: Float, from source: Source) throws {
        guard v.isFinite, cfg.contains(v) else {
            throw fail("cfg", "a finite number in \(shown(cfg.lowerBound))…\(shown(cfg.upperBound))", shown(v), source)
        }
    }

    public static func checkTopK(_ v: Int, from source: Source) throws {
        guard topK.contains(v) else {
            throw fail("top-k", "an integer in \(topK.lowerBound)…\(topK.upperBound) (0 = off)", String(v), source)
        }
    }

    public static func checkTopP(_ v: Float, from source: Source) throws {
        guard v.isFinite, topP.contains(v) else { throw fail("top-p", "a number in 0…1 (0 = off)", shown(v), source) }
    }

    public static func checkTemperature(_ v: Float, from source: Source) throws {
        guard v.isFinite, temperature.contains(v) else {
            throw fail("temperature", "a finite number in \(temperature.lowerBound)…\(shown(temperature.upperBound))", shown(v), source)
        }
    }

    /// A guidance rule named in a file ("ramp" or "constant"; `CFGMode`).
    public static func cfgMode(_ text: String, from source: Source) throws -> CFGMode {
        guard let m = CFGMode(rawValue: text) else {
            throw fail("cfg-mode", CFGMode.allCases.map(\.rawValue).joined(separator: " or "), "'\(text)'", source)
        }
        return m
    }

    /// A seed as given on the command line: 0…2^64−1 (every seed a record or the TUI holds), or −1 for a random
    /// one (nil).
    public static func seed(_ text: String, from source: Source) throws -> UInt64? {
        if text == "-1" { return nil }
        guard let v = UInt64(text) else {
            throw fail("seed", "an integer in 0…\(UInt64.max), or -1 for a random one", String(text.prefix(40)), source)
        }
        return v
    }

    /// Every field of `o`.
    public static func check(_ o: SamplingOptions, from source: Source) throws {
        try checkCFG(o.cfg, from: source)
        try checkTopK(o.topK, from: source)
        try checkTopP(o.topP, from: source)
        if let t = o.temperature { try checkTemperature(t, from: source) }
    }

    /// The flags a command was given (nil = not given), checked by the same rules.
    public static func checkFlags(cfg: Float? = nil, topK: Int? = nil, topP: Float? = nil, temperature: Float? = nil,
                                  seed: String? = nil) throws {
        if let v = cfg { try checkCFG(v, from: .flag("--cfg")) }
        if let v = topK { try checkTopK(v, from: .flag("--top-k")) }
        if let v = topP { try checkTopP(v, from: .flag("--top-p")) }
        if let v = temperature { try checkTemperature(v, from: .flag("--temperature")) }
        if let v = seed { _ = try Self.seed(v, from: .flag("--seed")) }
    }

    /// A model's `defaults` metadata (`{"cfg": 3, "top_k": 50, "top_p": 0.95, "more_smooth": false,
    /// "constant_cfg": false, "cfg_mode": "ramp"}`, every key optional; `cfg_mode` wins over `constant_cfg`) over `base`. A key of the wrong type, an unknown key or a
    /// value out of range is an error, not silently skipped.
    public static func applyingDefaults(_ json: String, to base: SamplingOptions, path: String) throws -> SamplingOptions {
        let source = Source.defaults(path), file = (path as NSString).lastPathComponent
        let parsed = Array(json.utf8).withUnsafeBytes { try? JSON.parse($0) }
        guard case .object(let members)? = parsed else {
            throw InputError("\(file): the `defaults` metadata is not a JSON object")
        }
        var o = base
        var seen = Set<String>()
        for (key, _) in members {
            guard ["cfg", "top_k", "top_p", "more_smooth", "constant_cfg", "cfg_mode", "temperature"].contains(key) else {
                throw InputError("\(file): unknown `defaults` key '\(key)'")
            }
            guard seen.insert(key).inserted else { throw InputError("\(file): `defaults` key '\(key)' appears twice") }
        }
        let value = { (key: String) in members.first { $0.0 == key }?.1 }
        func number(_ key: String) throws -> Double? {
            switch value(key) {
            case nil: return nil
            case .int(let i)?: return Double(i)
            case .double(let d)?: return d
            default: throw InputError("\(file): `defaults` \(key) is not a number")
            }
        }
        func flag(_ key: String) throws -> Bool? {
            switch value(key) {
            case nil: return nil
            case .bool(let b)?: return b
            default: throw InputError("\(file): `defaults` \(key) is not true or false")
            }
        }
        if let v = try number("cfg") { o.cfg = Float(v) }
        if case .int(let k)? = value("top_k") {
            o.topK = k
        } else if let v = try number("top_k") {
            throw fail("top-k", "an integer in \(topK.lowerBound)…\(topK.upperBound) (0 = off)", String(v), source)
        }
        if let v = try number("top_p") { o.topP = Float(v) }
        if let v = try number("temperature") { o.temperature = Float(v) == 1 ? nil : Float(v) }
        if let v = try flag("more_smooth") { o.moreSmooth = v }
        if let v = try flag("constant_cfg") { o.constantCFG = v }
        switch value("cfg_mode") {
        case nil: break
        case .string(let m)?: o.cfgMode = try cfgMode(m, from: source)
        default: throw InputError("\(file): `defaults` cfg_mode is not a string")
        }
        try check(o, from: source)
        return o
    }
}

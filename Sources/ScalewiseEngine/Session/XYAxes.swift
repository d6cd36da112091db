import Foundation

/// What an X/Y sheet's axis varies. The raw value is the name in flags and records; `top-k` style spellings are
/// accepted too.
public enum AxisKind: String, CaseIterable, Sendable {
    case cfg, topK = "top_k", topP = "top_p", temperature, cfgMode = "cfg_mode", seed, `class`, steps, model

    public init?(name: String) {
        self.init(rawValue: name.lowercased().replacingOccurrences(of: "-", with: "_"))
    }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The generate flag that sets the same thing for the whole sheet.
    public var flag: String {
        switch self {
        case .topK: "--top-k"
        case .topP: "--top-p"
        case .cfgMode: "--cfg-mode"
        default: "--" + rawValue
        }
    }
}

/// One `NAME=v1,v2,…` axis of an X/Y sheet (`generate --xy`, the TUI's X/Y view), its values as given (they label
/// the sheet and go into its record).
public struct XYAxis: Sendable {
    public let kind: AxisKind
    public let values: [String]

    /// Sheets larger than this need `--allow-large`.
    public static let defaultMaxCells = 64

    /// Parses and checks one axis: a known name, a non-empty list, and values by the rules flags follow
    /// (`SamplingRules`); classes, steps and models are checked against the model when it loads.
    public init(parsing spec: String) throws {
        guard let eq = spec.firstIndex(of: "=") else {
            throw InputError("--xy needs NAME=v1,v2,… (got '\(spec)'); names: \(AxisKind.names)")
        }
        let name = String(spec[..<eq]).trimmingCharacters(in: .whitespaces)
        guard let kind = AxisKind(name: name) else {
            throw InputError("--xy: unknown axis '\(name)'; axes: \(AxisKind.names)")
        }
        let list = spec[spec.index(after: eq)...]
        let values = list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !list.trimmingCharacters(in: .whitespaces).isEmpty else { throw InputError("--xy \(kind.rawValue): no values") }
        guard !values.contains("") else { throw InputError("--xy \(kind.rawValue): empty value in '\(list)'") }
        let source = SamplingRules.Source.flag("--xy \(kind.rawValue)")
        for v in values {
            func number<T: LosslessStringConvertible>(_: T.Type) throws -> T {
                guard let n = T(v) else { throw InputError("--xy \(kind.rawValue): '\(v)' is not a number") }
                return n
            }
            switch kind {
            case .cfg: try SamplingRules.checkCFG(try number(Float.self), from: source)
            case .topK: try SamplingRules.checkTopK(try number(Int.self), from: source)
            case .topP: try SamplingRules.checkTopP(try number(Float.self), from: source)
            case .temperature: try SamplingRules.checkTemperature(try number(Float.self), from: source)
            case .cfgMode: _ = try SamplingRules.cfgMode(v, from: source)
            case .seed:
                // A random seed would make the sheet unreproducible from its flags.
                guard let s = UInt64(v), s <= UInt64(Int64.max) else {
                    throw InputError("--xy seed: '\(v)' is not a seed (0…\(Int64.max))")
                }
            case .steps:
                guard let n = Int(v), (1...ScheduleRules.maxSteps).contains(n) else {
                    throw InputError("--xy steps: '\(v)' is not a step count (1…\(ScheduleRules.maxSteps))")
                }
            case .class, .model: break
            }
        }
        self.kind = kind
        self.values = values
    }

    public init(kind: AxisKind, values: [String]) {
        self.kind = kind
        self.values = values
    }

    /// The axis as recorded in a sheet, checked as if given as a flag.
    public init(recorded axis: SheetRecord.Axis) throws {
        do {
            try self.init(parsing: axis.name + "=" + axis.values.joined(separator: ","))
        } catch let e as InputError {
            throw InputError("the sheet's record: \(e.message)")
        }
    }

    public var record: SheetRecord.Axis { SheetRecord.Axis(name: kind.rawValue, values: values) }

    /// "cfg=1.5"; a model path is shown by its file name.
    public func label(_ i: Int) -> String {
        let v = kind == .model ? ((values[i] as NSString).lastPathComponent as NSString).deletingPathExtension : values[i]
        return "\(kind.rawValue)=\(v)"
    }

    /// The shape of a sheet: one or two axes over different settings and at most `limit` cells (by default, as
    /// many as a record holds). `large` names how to go past the smaller default limit, when there is a way.
    public static func checkSheet(_ axes: [XYAxis], limit: Int = defaultMaxCells, large: String?) throws {
        guard axes.count <= 2 else { throw InputError("--xy takes at most two axes (X and Y), got \(axes.count)") }
        if axes.count == 2 && axes[0].kind == axes[1].kind {
            throw InputError("--xy \(axes[0].kind.rawValue) is given twice; each axis varies a different setting")
        }
        let cells = axes.map(\.values.count).reduce(1, *)
        if cells > SheetRecord.maxCells {
            throw InputError("--xy makes \(cells) cells; a sheet holds at most \(SheetRecord.maxCells)")
        }
        if cells > limit {
            throw InputError("--xy makes \(cells) cells, more than \(limit)" + (large.map { "; \($0)" } ?? ""))
        }
    }

    /// Each cell's axis values, row by row (X fastest).
    public static func cellValues(_ axes: [XYAxis]) -> [[AxisKind: String]] {
        let cols = axes[0].values.count, rows = axes.count > 1 ? axes[1].values.count : 1
        return (0..<rows).flatMap { y in
            (0..<cols).map { x in
                var v: [AxisKind: String] = [axes[0].kind: axes[0].values[x]]
                if axes.count > 1 { v[axes[1].kind] = axes[1].values[y] }
                return v
            }
        }
    }

    /// Sets the sampling values of a cell (cfg, top-k, top-p, temperature, guidance rule, seed) over `o`; classes,
    /// steps and models are the caller's, which knows its model. A guidance rule the family does not offer is
    /// refused.
    public static func apply(_ v: [AxisKind: String], to o: inout SamplingOptions, family: ModelFamily) throws {
        if let c = v[.cfg].flatMap(Float.init) { o.cfg = c }
        if let k = v[.topK].flatMap(Int.init) { o.topK = k }
        if let p = v[.topP].flatMap(Float.init) { o.topP = p }
        if let t = v[.temperature].flatMap(Float.init) { o.temperature = t }
        if let s = v[.seed].flatMap(UInt64.init) { o.seed = s }
        if let m = v[.cfgMode].flatMap(CFGMode.init(rawValue:)) {
            guard family.cfgModes.contains(m) else {
                throw InputError("\(family.title) samples with the \(family.cfgModes.map(\.rawValue).joined(separator: " or ")) "
                                 + "guidance rule only; --cfg-mode \(m.rawValue) is not offered")
            }
            o.cfgMode = m
        }
    }

    /// The schedule a `steps` value picks on `gen`: only models with several schedules (FlexVAR) take the axis.
    public static func schedule(steps n: Int, of gen: Generator) throws -> [ScaleShape] {
        guard gen.schedules.count > 1 else {
            throw InputError("\(gen.name) has one schedule (\(gen.defaultSchedule.count) steps); --xy steps needs a model with several (FlexVAR)")
        }
        guard let s = gen.schedules.first(where: { $0.count == n }) else {
            let options = gen.schedules.map { String($0.count) }.joined(separator: ", ")
            throw InputError("\(gen.name) has no \(n)-step schedule (available: \(options))")
        }
        return s
    }
}

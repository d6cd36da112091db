import ArgumentParser
import Foundation
import ScalewiseEngine

/// What an `--xy` axis varies. The raw value is the name in flags and records; `top-k` style spellings are
/// accepted too.
enum AxisKind: String, CaseIterable {
    case cfg, topK = "top_k", topP = "top_p", temperature, cfgMode = "cfg_mode", seed, `class`, steps, model

    init?(name: String) {
        self.init(rawValue: name.lowercased().replacingOccurrences(of: "-", with: "_"))
    }

    static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The generate flag that sets the same thing for the whole sheet.
    var flag: String {
        switch self {
        case .topK: "--top-k"
        case .topP: "--top-p"
        case .cfgMode: "--cfg-mode"
        default: "--" + rawValue
        }
    }
}

/// One `--xy NAME=v1,v2,…` axis, its values as given (they label the sheet and go into its record).
struct XYAxis {
    let kind: AxisKind
    let values: [String]

    /// Sheets larger than this need `--allow-large`.
    static let defaultMaxCells = 64

    /// Parses and checks one axis: a known name, a non-empty list, and values by the rules flags follow
    /// (`SamplingRules`); classes, steps and models are checked against the model when it loads.
    init(parsing spec: String) throws {
        guard let eq = spec.firstIndex(of: "=") else {
            throw ValidationError("--xy needs NAME=v1,v2,… (got '\(spec)'); names: \(AxisKind.names)")
        }
        let name = String(spec[..<eq]).trimmingCharacters(in: .whitespaces)
        guard let kind = AxisKind(name: name) else {
            throw ValidationError("--xy: unknown axis '\(name)'; axes: \(AxisKind.names)")
        }
        let list = spec[spec.index(after: eq)...]
        let values = list.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !list.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--xy \(kind.rawValue): no values") }
        guard !values.contains("") else { throw ValidationError("--xy \(kind.rawValue): empty value in '\(list)'") }
        let source = SamplingRules.Source.flag("--xy \(kind.rawValue)")
        do {
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
        } catch let e as InputError {
            throw ValidationError(e.message)
        }
        self.kind = kind
        self.values = values
    }

    init(kind: AxisKind, values: [String]) {
        self.kind = kind
        self.values = values
    }

    /// The axis as recorded in a sheet, checked as if given as a flag.
    init(recorded axis: SheetRecord.Axis) throws {
        do {
            try self.init(parsing: axis.name + "=" + axis.values.joined(separator: ","))
        } catch let e as ValidationError {
            throw InputError("the sheet's record: \(e.message)")
        }
    }

    var record: SheetRecord.Axis { SheetRecord.Axis(name: kind.rawValue, values: values) }

    /// "cfg=1.5"; a model path is shown by its file name.
    func label(_ i: Int) -> String {
        let v = kind == .model ? ((values[i] as NSString).lastPathComponent as NSString).deletingPathExtension : values[i]
        return "\(kind.rawValue)=\(v)"
    }
}

/// "2,1" → column 2, row 1; "2" → column 2 of a one-axis sheet. Zero-based.
func parseCell(_ text: String) throws -> (x: Int, y: Int) {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard (1...2).contains(parts.count), parts.allSatisfy({ ($0 ?? -1) >= 0 }) else {
        throw ValidationError("--cell must be X,Y (zero-based column and row) or X for a one-axis sheet (got '\(text)')")
    }
    return (parts[0]!, parts.count == 2 ? parts[1]! : 0)
}

import Foundation
import XCTest

@testable import ScalewiseEngine

/// Reading the fixtures of tools/reference/make_flex_mvar_fixtures.py: tensors are stored with a leading batch
/// dimension (labels [3, 7]); tolerances are stated by each test.
enum Parity {
    static func fixture(_ name: String) -> String {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name).path
    }

    /// max|a − b| / max|b|.
    static func relErr(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "size mismatch \(a.count) vs \(b.count)")
        var num: Float = 0, den: Float = 0
        for i in 0..<a.count {
            num = max(num, abs(a[i] - b[i]))
            den = max(den, abs(b[i]))
        }
        return num / max(den, 1e-30)
    }

    static func maxAbsErr(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "size mismatch \(a.count) vs \(b.count)")
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// Row `b` of a tensor whose first dimension is `rows`.
    static func row<T>(_ a: [T], _ b: Int, of rows: Int) -> [T] {
        let n = a.count / rows
        return Array(a[(b * n)..<((b + 1) * n)])
    }

    static func ints(_ w: WeightSource, _ key: String) throws -> [Int32] { try w.ints(key).map { Int32($0) } }

    /// Largest difference in levels between our pixels and stored U8 pixels.
    static func maxLevelDiff(_ a: [UInt8], _ b: [Float]) -> Int {
        precondition(a.count == b.count, "size mismatch \(a.count) vs \(b.count)")
        return zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }

    /// Index of the first maximum of each vocabulary-sized row.
    static func argmax(_ logits: [Float], vocab V: Int) -> [Int32] {
        (0..<(logits.count / V)).map { p in
            var best = 0
            for v in 1..<V where logits[p * V + v] > logits[p * V + best] { best = v }
            return Int32(best)
        }
    }
}

/// A weight file seen as an official checkpoint would be: the same tensors, no metadata (so family and config
/// must come from the keys and shapes).
struct WithoutMetadata: WeightSource {
    let base: WeightSource
    var path: String { base.path }
    var keys: [String] { base.keys }
    var metadata: [String: String] { [:] }
    func has(_ key: String) -> Bool { base.has(key) }
    func shape(_ key: String) throws -> [Int] { try base.shape(key) }
    func dtype(_ key: String) throws -> DType { try base.dtype(key) }
    func floats(_ key: String) throws -> [Float] { try base.floats(key) }
    func ints(_ key: String) throws -> [Int] { try base.ints(key) }
}

/// max|a − b| / max|b|: the tolerance measure of the parity tests (logits 1e-4 relative, layer outputs 1e-5).
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "size mismatch \(a.count) vs \(b.count)")
    var num: Float = 0, den: Float = 0
    for i in 0..<a.count {
        num = max(num, abs(a[i] - b[i]))
        den = max(den, abs(b[i]))
    }
    return num / max(den, 1e-30)
}

/// Steps `ahead` scales, steps back to `back` and finishes: the tokens and final image equal an uninterrupted
/// run's. Then re-rolls from `reroll` with another seed: the earlier scales stay, the later ones change.
func checkRewindAndReroll(_ make: () throws -> GenerationSession, ahead: Int, back: Int, reroll: Int,
                          file: StaticString = #filePath, line: UInt = #line) throws {
    let a = try make(), b = try make(), n = a.scales.count
    while a.completed < n { _ = try a.step() }
    for _ in 0..<ahead { _ = try b.step() }
    b.rewind(to: back)
    XCTAssertEqual(b.completed, back, file: file, line: line)
    while b.completed < n { _ = try b.step() }
    XCTAssertEqual(a.results.map(\.tokens), b.results.map(\.tokens), file: file, line: line)
    XCTAssertEqual(a.preview(after: n, tier: .decoded), b.preview(after: n, tier: .decoded), file: file, line: line)
    b.reroll(from: reroll, seed: 7)
    while b.completed < n { _ = try b.step() }
    XCTAssertEqual(a.results[..<reroll].map(\.tokens), b.results[..<reroll].map(\.tokens), file: file, line: line)
    XCTAssertNotEqual(a.results[reroll...].map(\.tokens), b.results[reroll...].map(\.tokens), file: file, line: line)
}

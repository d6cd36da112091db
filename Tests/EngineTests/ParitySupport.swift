import ScalewiseEngine
import XCTest

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

import Foundation
import ScalewiseFuzz
import XCTest

/// A short seeded fuzzing run against the built binary: 2,000 mutants of safetensors files, `.pth`
/// checkpoints, PNG records and command lines, each with a timeout and a memory cap. None may crash, hang
/// or fail without a one-line error.
final class FuzzTests: XCTestCase {
    func testSeededFuzzRunEndsInCleanErrors() throws {
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 where !FileManager.default.fileExists(atPath: dir.appendingPathComponent("scalewise").path) {
            dir.deleteLastPathComponent()
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var config = Fuzz.Config(binary: dir.appendingPathComponent("scalewise").path, corpus: .fixtures(repository: root.path))
        config.seed = 20_261_206
        config.mutants = 2000
        config.timeout = 20
        let report = try Fuzz.run(config)
        print(report)
        XCTAssertEqual(report.runs, 2000)
        XCTAssertEqual(report.total(.crash), 0, "\(report)")
        XCTAssertEqual(report.total(.hang), 0, "\(report)")
        XCTAssertEqual(report.total(.messyError), 0, "\(report)")
        // Every kind must reach the code behind the parsers: some mutants are refused, some still run.
        for kind in Fuzz.Kind.allCases {
            XCTAssertGreaterThan(report.counts[kind]?[.cleanError] ?? 0, 0, "\(kind): no mutant was refused")
        }
        // Under 3 minutes on 2 cores: measured in CPU time, so that other work on the machine does not count.
        XCTAssertLessThan(report.cpuSeconds / 2, 180, "the short run needs more than 3 minutes of 2 cores")
    }
}

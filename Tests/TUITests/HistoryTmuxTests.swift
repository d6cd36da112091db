import Foundation
import ScalewiseEngine
import XCTest
@testable import ScalewiseTUI

/// The explorer features end to end: the history log and browser, `--from-png` and `O`, `--no-history`, an
/// unwritable state folder, and variations. Waits are on the latency log and the screen, never fixed sleeps.
final class HistoryTmuxTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard TmuxPane.tmuxAvailable else { throw XCTSkip("tmux is not installed (tools/setup.sh installs it)") }
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    /// fp32 throughout: the images are compared bit for bit with `scalewise generate`.
    private func tui(_ extra: String, model: String = TmuxPane.fixtureModel) -> String {
        "\(shellQuote(binary)) tui --model \(shellQuote(model)) --threads 1 --precision fp32 \(extra)"
    }

    private func historyDir(_ pane: TmuxPane) -> URL { pane.dir.appendingPathComponent(".local/state/scalewise/history") }

    private func index(_ pane: TmuxPane) throws -> [[String: Any]] {
        let text = try String(contentsOf: historyDir(pane).appendingPathComponent("index.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    /// Runs `scalewise` with `args` in `dir` and waits for it.
    private func cli(_ args: [String], in dir: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args + ["-q", "--threads", "1"]
        p.currentDirectoryURL = dir
        p.environment = ["HOME": dir.path, "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": blasKernels]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, args.joined(separator: " "))
    }

    private func pixels(_ path: String) throws -> RGBImage { try PNG.read(path).0 }

    func testHistoryRecordIndexAndReopen() throws {
        let pane = try TmuxPane(tui("--class 3 --seed 7 --cfg 2.5"), env: ["SCALEWISE_TUI_LOG": "tui.log"], width: 80, height: 24)
        pane.wait(for: "ready")
        try pane.keys("Enter")
        pane.waitLog("history /")
        var idx = try index(pane)
        XCTAssertEqual(idx.count, 1)
        let first = idx[0]
        XCTAssertEqual(first["model"] as? String, "var")
        XCTAssertEqual(first["model_path"] as? String, TmuxPane.fixtureModel)
        XCTAssertEqual(first["class"] as? Int, 3)
        XCTAssertEqual(first["seed"] as? Int, 7)
        XCTAssertEqual(first["cfg"] as? Double, 2.5)
        XCTAssertEqual(first["precision"] as? String, "fp32")
        XCTAssertNotNil(first["top_k"] as? Int)
        XCTAssertNotNil(first["top_p"] as? Double)
        XCTAssertNotNil(first["time"] as? String)
        let file = try XCTUnwrap(first["file"] as? String)
        let (logged, text) = try PNG.read(historyDir(pane).appendingPathComponent(file).path)
        XCTAssertTrue(try XCTUnwrap(text["parameters"]).hasPrefix("c3\nSteps: 10, Sampler: VAR, CFG scale: 2.5, Seed: 7"))
        let rec = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))
        XCTAssertEqual([rec.classIndex, Int(rec.seed)], [3, 7])
        XCTAssertEqual(rec.cfg, 2.5)
        XCTAssertEqual(rec.precision, "fp32")

        // The same parameters from the command line make the same picture.
        try cli(["generate", "--model", TmuxPane.fixtureModel, "--precision", "fp32", "--class", "3", "--seed", "7", "--cfg", "2.5",
                 "-o", "gen.png"], in: pane.dir)
        let reference = try pixels(pane.dir.appendingPathComponent("gen.png").path)
        XCTAssertTrue(logged == reference, "the history PNG is the image generate makes")

        // A second image (seed 9), then the browser: newest first, so the seed-7 entry is one down.
        try pane.keys("#")
        try pane.literal("9")
        try pane.keys("Enter")
        pane.wait(for: "seed    9")
        try pane.keys("Enter")
        pane.waitLog("history /", count: 2)
        try pane.keys("b")
        // Conditions are waited for, not read once: curses may be half way through drawing the frame.
        pane.wait("the browser, the newest entry (seed 9) selected first") {
            $0.contains("history, newest first") && $0.split(separator: "\n").first { $0.hasPrefix("> ") }?.contains("seed 9  cfg 2.50") == true
        }
        try pane.keys("Down")
        pane.wait(for: "2/2 · var fp32")
        try pane.keys("Enter")
        pane.waitLog("opened history")
        pane.wait("the entry's seed and cfg") { $0.contains("seed    7") && $0.contains("cfg     2.50") }
        try pane.keys("Enter")
        pane.waitLog("history /", count: 3)
        idx = try index(pane)
        XCTAssertEqual(idx.map { $0["seed"] as? Int }, [7, 9, 7])
        let reopened = try pixels(historyDir(pane).appendingPathComponent(try XCTUnwrap(idx[2]["file"] as? String)).path)
        XCTAssertTrue(reopened == reference, "re-opening the entry re-runs it to the same pixels")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    func testNoHistoryFlagAndEnvironment() throws {
        for (extra, env) in [("--no-history", [String: String]()), ("", ["SCALEWISE_NO_HISTORY": "1"])] {
            var e = env
            e["SCALEWISE_TUI_LOG"] = "tui.log"
            let pane = try TmuxPane(tui(extra), env: e, width: 80, height: 24)
            pane.wait(for: "ready")
            try pane.keys("Enter")
            pane.waitLog("scale lane=0 k=10")
            try pane.keys("b")
            pane.wait(for: "history is off")
            XCTAssertFalse(FileManager.default.fileExists(atPath: pane.dir.appendingPathComponent(".local/state").path), extra)
            XCTAssertFalse(pane.log().contains("history /"), "nothing logged")
            try pane.keys("q")
            pane.wait(for: "EXIT=0")
        }
    }

    /// A state folder that cannot hold the history (here a file where the folder should be) is a status message.
    func testUnwritableStateFolder() throws {
        let pane = try TmuxPane(": > state && XDG_STATE_HOME=\"$PWD/state\" " + tui(""), env: ["SCALEWISE_TUI_LOG": "tui.log"],
                                width: 80, height: 24)
        pane.wait(for: "ready")
        try pane.keys("Enter")
        pane.waitLog("history failed: \(pane.dir.path)/state is not a folder")
        pane.wait(for: "history not saved: /")
        try pane.keys("b")  // the browser has nothing to read and says so
        pane.wait(for: "no history yet")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// `--from-png` opens a record (and reproduces it), `O` opens a grid's first cell, an unknown model is a
    /// status error; in mono the browser is a text list.
    func testFromPNGGridAndUnknownModel() throws {
        let gen = [binary, "generate", "--model", TmuxPane.fixtureModel, "--precision", "fp32", "-q", "--threads", "1"].map(shellQuote)
            .joined(separator: " ")
        let vqvae = (TmuxPane.fixtureModel as NSString).deletingLastPathComponent + "/vqvae.safetensors"
        let setup = "\(gen) --class 5 --seed 11 --cfg 3 -o g.png && \(gen) --class 2 --seed 20 --count 4 --grid -o grid.png"
            + " && cp \(shellQuote(TmuxPane.fixtureModel)) mystery.safetensors"
            + " && \(shellQuote(binary)) generate --model ./mystery.safetensors --tokenizer \(shellQuote(vqvae)) --precision fp32 -q"
            + " --threads 1 --class 1 -o m.png"
            + " && rm mystery.safetensors && "
        let pane = try TmuxPane(setup + tui("--from-png g.png"), env: ["SCALEWISE_TUI_LOG": "tui.log", "NO_COLOR": "1"],
                                width: 80, height: 24)
        pane.waitLog("opened g.png")
        pane.wait("the record's class, seed and cfg") { $0.contains("seed    11") && $0.contains("cfg     3.0") && $0.contains("c5 · scale 0/10") }
        try pane.keys("Enter")
        pane.waitLog("history /")
        let file = try XCTUnwrap(try index(pane).first?["file"] as? String)
        XCTAssertTrue(try pixels(historyDir(pane).appendingPathComponent(file).path) == pixels(pane.dir.appendingPathComponent("g.png").path),
                      "the opened record regenerates the PNG's image")
        try pane.keys("b")
        pane.wait("mono: the browser as a text list, no picture") { $0.contains("history, newest first") && !$0.contains("▀") }
        try pane.keys("Escape")

        try pane.keys("O")
        pane.wait(for: "open the record of (PNG):")
        try pane.literal("grid.png")
        try pane.keys("Enter")
        pane.waitLog("opened grid.png")
        pane.wait(for: "seed    20")
        XCTAssertTrue(pane.log().contains("a grid of 4: opened its first cell"), pane.log())

        try pane.keys("O")
        try pane.literal("m.png")
        try pane.keys("Enter")
        pane.waitLog("open m.png: m.png: unknown model 'mystery'")
        XCTAssertTrue(pane.screen().contains("seed    20"), "an unknown model changes nothing")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// `O` on a PNG made by a model of the same name with other bytes: refused, naming the record field.
    func testOpenRefusesARecordOfOtherWeights() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scalewise-otherweights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fixtures = (TmuxPane.fixtureModel as NSString).deletingLastPathComponent
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TmuxPane.fixtureModel)))
        bytes[bytes.count - 1] ^= 1
        try Data(bytes).write(to: dir.appendingPathComponent("var.safetensors"))
        try FileManager.default.copyItem(atPath: fixtures + "/vqvae.safetensors", toPath: dir.path + "/vqvae.safetensors")
        try cli(["generate", "--model", dir.path + "/var.safetensors", "--precision", "fp32", "--class", "1", "-o", "m.png"], in: dir)
        let png = dir.path + "/m.png"
        let pane = try TmuxPane(tui("--class 3 --seed 7"), env: ["SCALEWISE_TUI_LOG": "tui.log"], width: 80, height: 24)
        pane.wait(for: "seed    7")
        try pane.keys("O")
        pane.wait(for: "open the record of (PNG):")
        try pane.literal(png)
        try pane.keys("Enter")
        pane.waitLog("open \(png): record field 'model_sha256' is ")
        XCTAssertTrue(pane.log().contains("load the file it was made with"), pane.log())
        XCTAssertTrue(pane.screen().contains("seed    7"), "a record of other weights changes nothing")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }

    /// Variations from scale 4 in `LANG=C` at 80×24: Esc leaves the image as it was, Enter keeps a candidate, whose
    /// record (seeds 7 up to scale 3, the candidate's after) `generate --from-png` reproduces.
    func testVariationsKeepAndCancel() throws {
        let pane = try TmuxPane(tui("--class 3 --seed 7"), env: ["SCALEWISE_TUI_LOG": "tui.log", "LANG": "C"], width: 80, height: 24)
        pane.wait(for: "ready")
        try pane.keys("Enter")
        pane.waitLog("history /")
        for _ in 0..<6 { try pane.keys("Left") }
        pane.wait(for: "scale 4/10")
        try pane.keys("V")
        pane.wait(for: "variations from scale 4/10")
        pane.waitLog("variation 4 seed")
        XCTAssertTrue(pane.screen().unicodeScalars.allSatisfy { $0.isASCII }, "LANG=C: ASCII only")
        try pane.keys("Escape")
        pane.waitLog("variations closed")
        pane.wait("the image as it was") { $0.contains("c3 . scale 4/10") && $0.contains("seed    7") }
        XCTAssertEqual(try index(pane).count, 1, "cancelling logs nothing")

        try pane.keys("V")
        pane.waitLog("variation 4 seed", count: 2)
        try pane.keys("Right")
        pane.wait(for: "> 2 seed")
        try pane.keys("Enter")
        let kept = pane.waitLog("kept variation 2 seed ")
        let seed = try XCTUnwrap(kept.components(separatedBy: "kept variation 2 seed ").last?.split(separator: "\n").first.flatMap { UInt64($0) })
        pane.waitLog("history /", count: 2)
        let idx = try index(pane)
        let file = historyDir(pane).appendingPathComponent(try XCTUnwrap(idx[1]["file"] as? String)).path
        let (image, text) = try PNG.read(file)
        let shown = kept.split(separator: "\n").last { $0.contains("variation 2 seed \(seed) pixels ") }
        XCTAssertEqual(shown?.components(separatedBy: " pixels ").last, Variations.fingerprint(image), "the kept image is the candidate shown")
        let rec = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))
        XCTAssertEqual(rec.scaleSeeds, [7, 7, 7] + Array(repeating: seed, count: 7), "scales 4… drawn from the kept seed")
        try cli(["generate", "--from-png", file, "--model", TmuxPane.fixtureModel, "-o", "again.png"], in: pane.dir)
        XCTAssertTrue(try pixels(pane.dir.appendingPathComponent("again.png").path) == image, "the kept image is reproducible")
        try pane.keys("q")
        pane.wait(for: "EXIT=0")
    }
}

extension TmuxPane {
    /// The latency log the tests ask for (`SCALEWISE_TUI_LOG=tui.log`, in the pane's folder).
    func log() -> String { (try? String(contentsOf: dir.appendingPathComponent("tui.log"), encoding: .utf8)) ?? "" }

    /// Waits until the log has `count` lines containing `text`; returns the log.
    @discardableResult
    func waitLog(_ text: String, count: Int = 1, timeout: Double = 120, file: StaticString = #filePath, line: UInt = #line) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var s = ""
        while Date() < deadline {
            s = log()
            if s.split(separator: "\n").filter({ $0.contains(text) }).count >= count { return s }
            usleep(50_000)
        }
        XCTFail("timed out waiting for \(count)× '\(text)' in the log; screen:\n\(screen())\nlog tail:\n\(s.suffix(2000))", file: file, line: line)
        return s
    }
}

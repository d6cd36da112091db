import Foundation
import ScalewiseEngine
import XCTest

/// `C` copies the `scalewise generate` line of the image on screen with OSC 52: the pty terminal records the
/// sequence, its base64 payload is decoded, and the line, run, makes the very image the TUI saves.
final class CopyLineTests: XCTestCase {
    private var binary = ""

    override func setUpWithError() throws {
        guard let b = TmuxPane.binary else { throw XCTSkip("scalewise binary not found next to the tests") }
        binary = b
    }

    /// The payloads of every `OSC 52 ; c ; … ST` in `bytes`, decoded; inside tmux's passthrough the ESCs are doubled.
    private func clipboard(_ bytes: [UInt8], tmux: Bool) -> [String] {
        let text = String(decoding: bytes, as: UTF8.self)
        let esc = tmux ? "\u{1B}\u{1B}" : "\u{1B}"
        return text.components(separatedBy: esc + "]52;c;").dropFirst().compactMap { rest in
            guard let end = rest.range(of: esc + "\\") else { return nil }
            return Data(base64Encoded: String(rest[..<end.lowerBound])).map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// Splits a line into words as a POSIX shell does for plain words and single quotes.
    private func words(_ line: String) -> [String] {
        var out: [String] = [], cur = "", quoted = false, any = false
        for ch in line {
            if quoted {
                if ch == "'" { quoted = false } else { cur.append(ch) }
            } else if ch == "'" {
                quoted = true
                any = true
            } else if ch == " " {
                if any || !cur.isEmpty { out.append(cur) }
                cur = ""
                any = false
            } else {
                cur.append(ch)
            }
        }
        if any || !cur.isEmpty { out.append(cur) }
        return out
    }

    private func flag(_ w: [String], _ name: String) -> String? {
        w.firstIndex(of: name).flatMap { $0 + 1 < w.count ? w[$0 + 1] : nil }
    }

    func testCopiedLineReproducesTheImage() throws {
        let t = try FakeTerminal([binary, "tui", "--model", TmuxPane.fixtureModel, "--threads", "1", "--output-dir", "{dir}", "--class", "3"],
                                 kind: .plain, env: ["SCALEWISE_TUI_LOG": "{dir}/tui.log"])
        t.waitFile("tui.log", contains: "graphics ")
        // cfg 2.5, seed 7, more-smooth on, then every scale.
        t.type("c2.5\r")
        t.waitFile("tui.log", contains: "key char 13")
        t.type("#7\r")
        t.type("m")
        t.type("\r")
        t.waitFile("tui.log", contains: "scale lane=0 k=10", timeout: 90)
        t.type("C")
        t.waitFile("tui.log", contains: "copied ")
        t.pump(until: { self.clipboard($0, tmux: false).count == 1 }, timeout: 10)
        let copied = clipboard(t.output, tmux: false)
        XCTAssertEqual(copied.count, 1, "one OSC 52 sequence")
        let line = try XCTUnwrap(copied.first)
        XCTAssertTrue(t.logLines.contains("copied \(line)"), "the log names what was copied")
        let w = words(line)
        XCTAssertEqual(Array(w.prefix(2)), ["scalewise", "generate"])
        XCTAssertEqual(flag(w, "--model"), TmuxPane.fixtureModel)
        XCTAssertEqual(flag(w, "--class"), "3")
        XCTAssertEqual(flag(w, "--seed"), "7")
        XCTAssertEqual(flag(w, "--cfg").flatMap(Float.init), 2.5)
        XCTAssertTrue(w.contains("--more-smooth"), line)
        XCTAssertEqual(flag(w, "-o"), "scalewise-c3-7.png")
        t.type("\u{1B}")  // closes the box that shows a line too long for the status line
        t.waitFile("tui.log", contains: "key char 27")
        t.type("s")
        t.waitFile("tui.log", contains: "saved ", timeout: 90)
        t.type("q")
        XCTAssertEqual(t.waitExit(), 0)
        let (tuiImage, _) = try PNG.read(t.dir.appendingPathComponent("scalewise-c3-7.png").path)

        // The line, run in a folder of its own, makes the same picture.
        let cli = t.dir.appendingPathComponent("cli")
        try FileManager.default.createDirectory(at: cli, withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = Array(w.dropFirst()) + ["-q", "--threads", "1"]
        p.currentDirectoryURL = cli
        p.environment = ["HOME": t.dir.path, "PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": blasKernels]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let (cliImage, text) = try PNG.read(cli.appendingPathComponent("scalewise-c3-7.png").path)
        // A comparison, not XCTAssertEqual: a 32×32 image prints as 3,072 numbers.
        XCTAssertTrue(cliImage == tuiImage, "the copied line reproduces the image on screen")
        let rec = try GenerationRecord.parse(try XCTUnwrap(text["scalewise"]))
        XCTAssertEqual([rec.classIndex, Int(rec.seed)], [3, 7])
        XCTAssertEqual(rec.cfg, 2.5)
        XCTAssertTrue(rec.moreSmooth)
    }

    /// Inside tmux the sequence goes through its passthrough; a re-rolled image has no line and says so.
    func testTmuxPassthroughAndRerolls() throws {
        let t = try FakeTerminal([binary, "tui", "--model", TmuxPane.fixtureModel, "--threads", "1"],
                                 kind: .plain, env: ["SCALEWISE_TUI_LOG": "{dir}/tui.log", "TMUX": "/tmp/tmux-test,1,0"])
        t.waitFile("tui.log", contains: "graphics ")
        t.type("C")
        t.waitFile("tui.log", contains: "copied ")
        t.pump(until: { self.clipboard($0, tmux: true).count == 1 }, timeout: 10)
        XCTAssertTrue(FakeTerminal.contains(t.output, Array("\u{1B}Ptmux;\u{1B}\u{1B}]52;c;".utf8)), "wrapped for tmux")
        let line = try XCTUnwrap(clipboard(t.output, tmux: true).first)
        XCTAssertTrue(line.hasPrefix("scalewise generate --model "), line)
        XCTAssertEqual(flag(words(line), "--seed"), "0")
        t.type("\u{1B}")  // closes the box that shows a line too long for the status line
        t.waitFile("tui.log", contains: "key char 27")
        t.type("\r")
        t.waitFile("tui.log", contains: "scale lane=0 k=10", timeout: 90)
        t.type("r")
        t.waitFile("tui.log", contains: "key char 114")
        t.type("C")
        t.waitFile("tui.log", contains: "no line: a re-rolled image has no generate line")
        t.type("q")
        XCTAssertEqual(t.waitExit(), 0)
        XCTAssertEqual(t.logLines.filter { $0.hasPrefix("copied ") }.count, 1, "nothing copied for the re-rolled image")
    }
}

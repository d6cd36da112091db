import Foundation
import ScalewiseEngine
import XCTest
@testable import ScalewiseTUI

/// A real sixel terminal: xterm in VT340 mode on a virtual X server (Xvfb), driven with xdotool; the
/// screenshot (xwd) must hold the PNG the engine saved, enlarged by a whole number.
final class XtermSixelTests: XCTestCase {
    private var children: [pid_t] = []
    private var dir = URL(fileURLWithPath: "/")

    private static let tools = ["/usr/bin/Xvfb", "/usr/bin/xterm", "/usr/bin/xdotool", "/usr/bin/xwd"]

    override func setUpWithError() throws {
        for t in Self.tools where !FileManager.default.isExecutableFile(atPath: t) {
            throw XCTSkip("\(t) is not installed (tools/setup.sh installs it)")
        }
        guard TmuxPane.binary != nil else { throw XCTSkip("scalewise binary not found next to the tests") }
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("scalewise-xterm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for pid in children.reversed() {
            kill(pid, SIGTERM)
            var s: Int32 = 0
            waitpid(pid, &s, 0)
        }
        try? FileManager.default.removeItem(at: dir)
    }

    @discardableResult
    private func spawn(_ argv: [String], env: [String: String] = [:], output: String? = nil) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let e = ProcessInfo.processInfo.environment.merging(env) { $1 }
        let cargs = argv.map { strdup($0) } + [nil]
        let cenv = e.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cargs.forEach { free($0) }; cenv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cargs, cenv)
        guard rc == 0 else { throw TmuxError.failed("spawn \(argv[0]): \(rc)") }
        return pid
    }

    /// Runs a tool to completion; its stdout.
    private func output(_ argv: [String], env: [String: String]) throws -> String {
        let out = dir.appendingPathComponent("out-\(UInt32.random(in: 0...UInt32.max))").path
        let pid = try spawn(argv, env: env, output: out)
        var s: Int32 = 0
        waitpid(pid, &s, 0)
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    private func waitFor(_ what: String, timeout: Double = 60, _ ok: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline { if ok() { return }; usleep(50_000) }
        XCTFail("timed out waiting for \(what)")
    }

    /// XWD (X Window Dump, X11 xwd.h): a big-endian header, a colour map, then the pixels.
    private func readXWD(_ path: String) throws -> RGBImage {
        let d = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func u32(_ i: Int) -> Int { Int(d[i * 4]) << 24 | Int(d[i * 4 + 1]) << 16 | Int(d[i * 4 + 2]) << 8 | Int(d[i * 4 + 3]) }
        let headerSize = u32(0), width = u32(4), height = u32(5), byteOrder = u32(7), bpp = u32(11), bpl = u32(12), ncolors = u32(19)
        guard bpp == 32 else { throw TmuxError.failed("xwd: \(bpp) bits per pixel") }
        let off = headerSize + ncolors * 12
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = off + y * bpl + x * 4
                let v = byteOrder == 0 ? (Int(d[i]) | Int(d[i + 1]) << 8 | Int(d[i + 2]) << 16)
                                       : (Int(d[i + 1]) << 16 | Int(d[i + 2]) << 8 | Int(d[i + 3]))
                let o = (y * width + x) * 3
                px[o] = UInt8(v >> 16 & 0xFF); px[o + 1] = UInt8(v >> 8 & 0xFF); px[o + 2] = UInt8(v & 0xFF)
            }
        }
        return RGBImage(width: width, height: height, pixels: px)
    }

    func testSixelScreenshotMatchesThePNG() throws {
        let display = ":\(50 + Int(getpid() % 40))"
        let socket = "/tmp/.X11-unix/X\(display.dropFirst())"
        guard !FileManager.default.fileExists(atPath: socket) else { throw XCTSkip("display \(display) is taken") }
        children.append(try spawn(["/usr/bin/Xvfb", display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"]))
        waitFor("Xvfb", timeout: 20) { FileManager.default.fileExists(atPath: socket) }
        let x = ["DISPLAY": display]
        let log = dir.appendingPathComponent("tui.log").path
        let (cols, rows) = (120, 40)
        children.append(try spawn(["/usr/bin/xterm", "-ti", "vt340", "-fn", "fixed", "-bg", "black", "-fg", "white", "-geometry", "\(cols)x\(rows)+0+0",
                                   "-xrm", "XTerm*numColorRegisters: 1024", "-e", "/usr/bin/env", "LANG=C.UTF-8",
                                   "SCALEWISE_TUI_LOG=\(log)", "OPENBLAS_NUM_THREADS=1", "OPENBLAS_CORETYPE=\(blasKernels)",
                                   TmuxPane.binary!, "tui", "--model", TmuxPane.fixtureModel, "--threads", "1",
                                   "--output-dir", dir.path], env: x))
        func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        waitFor("the TUI to start in sixel mode") { logText().contains("graphics ") }
        XCTAssertTrue(logText().contains("graphics sixel (DA1 lists attribute 4"), logText())
        let window = try output(["/usr/bin/xdotool", "search", "--sync", "--class", "xterm"], env: x)
            .split(separator: "\n").first.map(String.init) ?? ""
        // No window manager: focus by hand, then type with XTEST (xterm ignores synthetic events).
        _ = try output(["/usr/bin/xdotool", "windowfocus", "--sync", window], env: x)
        _ = try output(["/usr/bin/xdotool", "key", "Return", "s"], env: x)
        waitFor("the save") { logText().contains("saved ") }
        usleep(500_000)  // the last picture reaches the X server
        let shotPath = dir.appendingPathComponent("shot.xwd").path
        var status: Int32 = 0
        waitpid(try spawn(["/usr/bin/xwd", "-root", "-silent"], env: x, output: shotPath), &status, 0)
        let shot = try readXWD(shotPath)
        let pngName = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: dir.path).first { $0.hasSuffix(".png") })
        let (png, _) = try PNG.read(dir.appendingPathComponent(pngName).path)
        _ = try output(["/usr/bin/xdotool", "key", "q"], env: x)

        // Where the TUI put the canvas: its layout, the cell size it logged, the whole-number zoom.
        let cell = try XCTUnwrap(logText().range(of: "cell [0-9]+x[0-9]+", options: .regularExpression).map { logText()[$0].dropFirst(5) })
        let parts = cell.split(separator: "x").compactMap { Int($0) }
        let (cw, ch) = (parts[0], parts[1])
        let canvas = Layout(width: cols, height: rows, lanes: 1, total: [10]).canvases[0]
        let zoom = PixelScale.zoom(png.width, png.height, boxW: canvas.cols * cw, boxH: canvas.rows * ch)
        XCTAssertGreaterThan(zoom, 1)
        let (iw, ih) = (png.width * zoom, png.height * zoom)
        let x0 = (canvas.x + ((canvas.cols * cw - iw) / 2 + cw / 2) / cw) * cw
        let y0 = (canvas.y + ((canvas.rows * ch - ih) / 2 + ch / 2) / ch) * ch
        // xterm's inner border shifts the text area by a few pixels: take the best offset nearby.
        var best = (err: Int.max, dx: 0, dy: 0)
        for dy in 0...4 {
            for dx in 0...4 {
                var err = 0
                for py in stride(from: 0, to: png.height, by: 3) {
                    for px in stride(from: 0, to: png.width, by: 3) {
                        let s = ((y0 + dy + py * zoom) * shot.width + x0 + dx + px * zoom) * 3, p = (py * png.width + px) * 3
                        for c in 0..<3 { err += abs(Int(shot.pixels[s + c]) - Int(png.pixels[p + c])) }
                    }
                }
                if err < best.err { best = (err, dx, dy) }
            }
        }
        var worst = 0
        for py in 0..<ih {
            for px in 0..<iw {
                let s = ((y0 + best.dy + py) * shot.width + x0 + best.dx + px) * 3, p = ((py / zoom) * png.width + px / zoom) * 3
                for c in 0..<3 { worst = max(worst, abs(Int(shot.pixels[s + c]) - Int(png.pixels[p + c]))) }
            }
        }
        XCTAssertLessThanOrEqual(worst, 3, "every screen pixel of the \(zoom)× picture is its PNG pixel (sixel registers are in per cent)")
        // The earlier scales' larger pictures are gone: just outside this one, the background.
        var leftovers = 0
        for i in 0..<iw {
            let s = ((y0 + best.dy + ih + 2) * shot.width + x0 + best.dx + i) * 3
            if shot.pixels[s..<(s + 3)] != [0, 0, 0] { leftovers += 1 }
        }
        for j in 0..<ih {
            let s = ((y0 + best.dy + j) * shot.width + x0 + best.dx + iw + 2) * 3
            if shot.pixels[s..<(s + 3)] != [0, 0, 0] { leftovers += 1 }
        }
        XCTAssertEqual(leftovers, 0, "no pixels of earlier pictures around the last one")
    }
}

import Foundation
import ScalewiseEngine
import XCTest

/// A pseudo-terminal that plays a terminal emulator for the real `scalewise` binary: it answers the
/// queries the binary sends (as kitty, a sixel terminal, or a terminal that answers nothing) and
/// records every byte the binary writes, escape sequences included.
final class FakeTerminal {
    /// `slow`: a plain terminal behind a slow link, whose DA1 comes 400 ms after its first reply.
    enum Kind { case kitty, sixel, plain, silent, slow }

    let kind: Kind
    let master: Int32
    let pid: pid_t
    let dir: URL
    private(set) var output = [UInt8]()
    private var handled = Set<Int>()  // output offsets of the queries answered
    private var delayed: (due: Date, bytes: String)?
    /// The queries seen, in order.
    private(set) var queries: [String] = []
    let started = Date()

    /// Starts `argv` on a fresh pty of `cols`×`rows` cells (`cellW`×`cellH` px each; 0 leaves the
    /// pixel size unset, as Konsole does); `dir` is a fresh folder for its files, `{dir}` in `argv` names it.
    init(_ argv: [String], kind: Kind, env: [String: String] = [:], cols: Int = 120, rows: Int = 40,
         cellW: Int = 0, cellH: Int = 0) throws {
        self.kind = kind
        let id = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("scalewise-pty-\(id)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let folder = dir.path
        // glibc declares the pty calls only under _XOPEN_SOURCE, which SwiftPM does not set: look them up.
        typealias IntFn = @convention(c) (Int32) -> Int32
        typealias NameFn = @convention(c) (Int32) -> UnsafeMutablePointer<CChar>?
        guard let h = dlopen(nil, RTLD_NOW), let o = dlsym(h, "posix_openpt"), let g = dlsym(h, "grantpt"),
              let u = dlsym(h, "unlockpt"), let n = dlsym(h, "ptsname") else { throw TmuxError.failed("no pty functions") }
        master = unsafeBitCast(o, to: IntFn.self)(O_RDWR | O_NOCTTY)
        guard master >= 0, unsafeBitCast(g, to: IntFn.self)(master) == 0, unsafeBitCast(u, to: IntFn.self)(master) == 0,
              let name = unsafeBitCast(n, to: NameFn.self)(master) else {
            throw TmuxError.failed("no pseudo-terminal")
        }
        let slave = String(cString: name)
        var ws = winsize(ws_row: UInt16(rows), ws_col: UInt16(cols), ws_xpixel: UInt16(cols * cellW), ws_ypixel: UInt16(rows * cellH))
        _ = ioctl(master, UInt(TIOCSWINSZ), &ws)
        var e = ["LANG": "C.UTF-8", "TERM": "xterm-256color", "HOME": dir.path, "PATH": "/usr/bin:/bin",
                 "OPENBLAS_NUM_THREADS": "1", "OPENBLAS_CORETYPE": blasKernels]
        for (k, v) in env { e[k] = v.replacingOccurrences(of: "{dir}", with: folder) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addclose(&actions, master)
        posix_spawn_file_actions_addopen(&actions, 0, slave, O_RDWR, 0)
        posix_spawn_file_actions_adddup2(&actions, 0, 1)
        posix_spawn_file_actions_adddup2(&actions, 0, 2)
        // setsid -c: a new session whose controlling terminal (/dev/tty) is the pty, as in a real terminal.
        let cargs = (["/usr/bin/setsid", "-c"] + argv.map { $0 == "{dir}" ? folder : $0 }).map { strdup($0) } + [nil]
        let cenv = e.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cargs.forEach { free($0) }; cenv.forEach { free($0) } }
        var p: pid_t = 0
        let rc = posix_spawn(&p, "/usr/bin/setsid", &actions, nil, cargs, cenv)
        guard rc == 0 else { throw TmuxError.failed("spawn \(argv[0]): \(rc)") }
        pid = p
    }

    deinit {
        if exitStatus == nil { kill(pid, SIGKILL); var s: Int32 = 0; waitpid(pid, &s, 0) }
        close(master)
        try? FileManager.default.removeItem(at: dir)
    }

    private(set) var exitStatus: Int32?

    /// Reads what the program wrote for up to `seconds`, answering queries, until `done(output)`.
    @discardableResult
    func pump(until done: ([UInt8]) -> Bool, timeout seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buf = [UInt8](repeating: 0, count: 65536)
        while Date() < deadline {
            if done(output) { return true }
            if let d = delayed, Date() >= d.due { delayed = nil; type(d.bytes) }
            var pfd = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            let p = poll(&pfd, 1, 50)
            if p > 0 {
                let n = read(master, &buf, buf.count)
                if n > 0 { output += buf[0..<n]; answerQueries(newBytes: n) } else { reap(); if exitStatus != nil { return done(output) } }
            } else {
                reap()
                if exitStatus != nil { return done(output) }
            }
        }
        return done(output)
    }

    func wait(for text: String, timeout: Double = 60, file: StaticString = #filePath, line: UInt = #line) {
        let needle = Array(text.utf8)
        if !pump(until: { FakeTerminal.contains($0, needle) }, timeout: timeout) {
            XCTFail("timed out waiting for '\(text)'; tail: \(String(decoding: output.suffix(600), as: UTF8.self).debugDescription)",
                    file: file, line: line)
        }
    }

    /// Waits until the file `name` in `dir` contains `text` (the TUI's log says what it did, where the
    /// screen stream only holds curses' minimal updates), answering queries meanwhile.
    /// The TUI's log (`tui.log` in the scratch folder), timestamps stripped.
    var logLines: [String] {
        let text = (try? String(contentsOfFile: dir.appendingPathComponent("tui.log").path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map { String($0.drop { $0 != " " }.dropFirst()) }
    }

    func waitFile(_ name: String, contains text: String, timeout: Double = 60, file: StaticString = #filePath, line: UInt = #line) {
        let path = name.hasPrefix("/") ? name : dir.appendingPathComponent(name).path
        func has(_: [UInt8]) -> Bool { (try? String(contentsOfFile: path, encoding: .utf8))?.contains(text) ?? false }
        if !pump(until: has, timeout: timeout) {
            let log = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no file)"
            XCTFail("timed out waiting for '\(text)' in \(name):\n\(log)", file: file, line: line)
        }
    }

    func type(_ s: String) {
        let b = Array(s.utf8)
        _ = b.withUnsafeBytes { Glibc.write(master, $0.baseAddress, $0.count) }
    }

    /// Waits for the program to exit; its status (or nil on timeout).
    func waitExit(timeout: Double = 20) -> Int32? {
        _ = pump(until: { _ in false }, timeout: 0.01)
        let deadline = Date().addingTimeInterval(timeout)
        while exitStatus == nil && Date() < deadline { _ = pump(until: { _ in self.exitStatus != nil }, timeout: 0.2) }
        return exitStatus
    }

    private func reap() {
        guard exitStatus == nil else { return }
        var s: Int32 = 0
        if waitpid(pid, &s, WNOHANG) == pid { exitStatus = (s & 0x7F) == 0 ? (s >> 8) & 0xFF : 128 + (s & 0x7F) }
    }

    var text: String { String(decoding: output, as: UTF8.self) }

    static func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, hay.count >= needle.count else { return needle.isEmpty }
        return hay.withUnsafeBufferPointer { h in
            for i in 0...(h.count - needle.count) where h[i] == needle[0] {
                if needle.indices.allSatisfy({ h[i + $0] == needle[$0] }) { return true }
            }
            return false
        }
    }

    /// Answers what a real terminal of this kind would: kitty's a=q, CSI 16 t, DA1. Each query is
    /// answered once, found by its start offset (a query may straddle two reads).
    private func answerQueries(newBytes: Int) {
        let from = max(0, output.count - newBytes - 64)
        let patterns: [(String, String)] = [("\u{1B}_Gi=31,s=1,v=1,a=q", "kitty"), ("\u{1B}[16t", "cell"), ("\u{1B}[?1;1;0S", "registers"), ("\u{1B}[c", "da1")]
        var reply = ""
        for (pattern, name) in patterns {
            let needle = Array(pattern.utf8)
            var i = from
            while i + needle.count <= output.count {
                if output[i] == needle[0], !handled.contains(i), needle.indices.allSatisfy({ output[i + $0] == needle[$0] }) {
                    handled.insert(i)
                    queries.append(name)
                    switch (name, kind) {
                    case ("kitty", .kitty): reply += "\u{1B}_Gi=31;OK\u{1B}\\"
                    case ("cell", .kitty), ("cell", .sixel), ("cell", .plain), ("cell", .slow): reply += "\u{1B}[6;20;10t"
                    case ("da1", .slow): delayed = (Date().addingTimeInterval(0.4), "\u{1B}[?62;22c")
                    case ("da1", .kitty), ("da1", .plain): reply += "\u{1B}[?62;22c"
                    case ("registers", .sixel): reply += "\u{1B}[?1;0;1024S"
                    case ("da1", .sixel): reply += "\u{1B}[?63;1;2;4;6;9;15;22c"
                    default: break
                    }
                }
                i += 1
            }
        }
        if !reply.isEmpty { type(reply) }
    }
}

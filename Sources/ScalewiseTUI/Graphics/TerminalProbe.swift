import Foundation

/// How the preview is drawn.
public enum GraphicsMode: String, CaseIterable, Sendable {
    case kitty, sixel, iterm, blocks

    public var label: String {
        switch self {
        case .kitty: "kitty graphics"
        case .sixel: "sixel"
        case .iterm: "iTerm2 images"
        case .blocks: "blocks"
        }
    }
}

/// What `--graphics` asks for.
public enum GraphicsChoice: String, CaseIterable, Sendable { case auto, kitty, sixel, iterm, blocks }

/// What the terminal said about itself, and why each image protocol is or is not used.
public struct TerminalReport: Sendable {
    public var term = ""
    public var termProgram = ""
    public var insideTmux = false
    /// Inside tmux, the environment names kitty or Ghostty as the outer terminal (KITTY_WINDOW_ID,
    /// GHOSTTY_RESOURCES_DIR survive into tmux's panes).
    public var outerKitty = false
    /// False when no query was sent (not a terminal, or blocks asked for).
    public var queried = false
    /// DA1 (the sentinel, answered by every VT100-compatible terminal) came back before the timeout.
    public var answered = false
    public var elapsedMs = 0.0
    public var timeoutMs = 0
    /// DA1's attributes (`CSI ? a;b;… c`).
    public var da1: [Int] = []
    /// The kitty reply's message (`OK` or an error), nil when none came.
    public var kittyReply: String?
    /// Pixel size of one cell; `cellSource` says where it came from.
    public var cellWidth = 0
    public var cellHeight = 0
    public var cellSource = "unknown"
    /// Sixel colour registers (XTSMGRAPHICS); nil when the terminal did not say.
    public var sixelRegisters: Int?
    /// Registers the sixel encoder may use: what the terminal reported (at most 1024), else 256.
    public var sixelColors: Int { min(1024, max(16, sixelRegisters ?? 256)) }
    /// Bytes read during the probe that were not replies (typed keys): dropped, never taken for keys.
    public var strayBytes = 0

    public var kitty: Bool { kittyReply == "OK" }
    public var sixel: Bool { da1.contains(4) }
    /// iTerm2's protocol has no query; these programs announce themselves in the environment.
    public var iterm: Bool { ["iTerm.app", "WezTerm"].contains(termProgram) }

    /// Why each protocol is or is not available, one line each (what `scalewise doctor` prints).
    public var reasons: [(GraphicsMode, Bool, String)] {
        var r: [(GraphicsMode, Bool, String)] = []
        if !queried {
            r.append((.kitty, false, "not queried"))
        } else if insideTmux && outerKitty {
            r.append((.kitty, true, "inside tmux with kitty or Ghostty outside (KITTY_WINDOW_ID or GHOSTTY_RESOURCES_DIR): Unicode placeholders, "
                      + "uploads through passthrough (needs `set -g allow-passthrough on`)"))
        } else if insideTmux {
            // tmux answers DA1 itself, so a passed-through reply would arrive after the sentinel.
            r.append((.kitty, false, "not queried inside tmux (tmux answers DA1 first); no KITTY_WINDOW_ID or GHOSTTY_RESOURCES_DIR"))
        } else if kitty {
            r.append((.kitty, true, "answered OK to the a=q query before DA1"))
        } else if let k = kittyReply {
            r.append((.kitty, false, "answered the a=q query with an error: \(k)"))
        } else {
            r.append((.kitty, false, answered ? "DA1 came back with no reply to the a=q query" : "no reply to the a=q query"))
        }
        if !queried {
            r.append((.sixel, false, "not queried"))
        } else if answered {
            let attrs = da1.map(String.init).joined(separator: ";")
            let regs = sixelRegisters.map { "; \($0) colour registers (XTSMGRAPHICS)" } ?? "; 256 colour registers assumed"
            r.append((.sixel, sixel, sixel ? "DA1 lists attribute 4 (?\(attrs)c)\(regs)" : "DA1 (?\(attrs)c) has no attribute 4"))
        } else {
            r.append((.sixel, false, "no DA1 reply within \(timeoutMs) ms"))
        }
        if iterm && insideTmux {
            r.append((.iterm, false, "TERM_PROGRAM=\(termProgram), but inside tmux the image would land at the wrong place"))
        } else {
            r.append((.iterm, iterm, iterm ? "TERM_PROGRAM=\(termProgram)"
                                           : "TERM_PROGRAM is \(termProgram.isEmpty ? "unset" : termProgram), not iTerm.app or WezTerm"))
        }
        return r
    }

    /// The mode to use for `choice`, and why. A named protocol is honoured even when undetected (the
    /// user knows the terminal); auto takes the first available of kitty, iTerm2, sixel, else blocks.
    public func mode(for choice: GraphicsChoice) -> (GraphicsMode, String) {
        switch choice {
        case .blocks: return (.blocks, "asked for with --graphics blocks")
        case .kitty: return (.kitty, "asked for with --graphics kitty")
        case .sixel: return (.sixel, "asked for with --graphics sixel")
        case .iterm: return (.iterm, "asked for with --graphics iterm")
        case .auto:
            for (m, ok, why) in reasons where ok { return (m, why) }
            return (.blocks, queried ? "no pixel protocol detected" : "not a terminal")
        }
    }

    /// Modes a key press may cycle through: the detected ones, the current one, and blocks.
    public func available(including current: GraphicsMode) -> [GraphicsMode] {
        GraphicsMode.allCases.filter { m in m == .blocks || m == current || reasons.contains { $0.0 == m && $0.1 } }
    }
}

/// Asks the terminal, before curses starts, which image protocols and cell size it has. The queries
/// end with DA1, which every terminal answers, so its reply marks the end of all replies (the order
/// chafa and the kitty docs use); everything read up to it is consumed here and never reaches the key
/// queue. A terminal that answers nothing costs `timeoutMs`; one that has begun to answer (a slow
/// link) is given up to `slowTimeoutMs` to finish, so that its DA1 is not left for the key queue.
public enum TerminalProbe {
    public static let defaultTimeoutMs = 150
    public static let slowTimeoutMs = 1500

    public static func run(inFd: Int32 = 0, outFd: Int32 = 1, timeoutMs: Int = defaultTimeoutMs,
                           query: Bool = true, environment env: [String: String] = ProcessInfo.processInfo.environment) -> TerminalReport {
        var r = TerminalReport()
        r.term = env["TERM"] ?? ""
        r.termProgram = env["TERM_PROGRAM"] ?? ""
        r.insideTmux = !(env["TMUX"] ?? "").isEmpty
        r.outerKitty = r.insideTmux && !((env["KITTY_WINDOW_ID"] ?? "") + (env["GHOSTTY_RESOURCES_DIR"] ?? "")).isEmpty
        r.timeoutMs = timeoutMs
        // TIOCGWINSZ's pixel fields: filled by kitty, xterm, foot, WezTerm; 0 in many others.
        var ws = winsize()
        if ioctl(outFd, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_col > 0, ws.ws_row > 0,
           ws.ws_xpixel > 0, ws.ws_ypixel > 0, ws.ws_xpixel <= 24576, ws.ws_ypixel <= 24576 {
            r.cellWidth = Int(ws.ws_xpixel) / Int(ws.ws_col)
            r.cellHeight = Int(ws.ws_ypixel) / Int(ws.ws_row)
            r.cellSource = "TIOCGWINSZ: \(ws.ws_xpixel)×\(ws.ws_ypixel) px for \(ws.ws_col)×\(ws.ws_row) cells"
        }
        guard query, isatty(inFd) == 1, isatty(outFd) == 1 else { return finish(r) }
        var saved = termios()
        guard tcgetattr(inFd, &saved) == 0 else { return finish(r) }
        var raw = saved
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 0
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(inFd, TCSANOW, &raw) == 0 else { return finish(r) }
        defer { tcsetattr(inFd, TCSANOW, &saved) }
        r.queried = true
        // kitty's query, the cell size (CSI 16 t), the text area (CSI 14 t), the number of sixel colour
        // registers (XTSMGRAPHICS, CSI ? 1;1;0 S), then DA1 last.
        let q = (r.insideTmux ? [] : KittyEncoder.query(tmux: false)) + Array("\u{1B}[16t\u{1B}[14t\u{1B}[?1;1;0S\u{1B}[c".utf8)
        let start = DispatchTime.now().uptimeNanoseconds
        _ = q.withUnsafeBytes { write(outFd, $0.baseAddress, $0.count) }
        var buf = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1024)
        var parsed = ProbeReplies()
        while !parsed.da1Seen {
            let elapsed = Int((DispatchTime.now().uptimeNanoseconds - start) / 1_000_000)
            let limit = buf.isEmpty ? timeoutMs : max(timeoutMs, slowTimeoutMs)
            guard elapsed < limit else { break }
            var pfd = pollfd(fd: inFd, events: Int16(POLLIN), revents: 0)
            let p = poll(&pfd, 1, Int32(limit - elapsed))
            if p < 0 && errno == EINTR { continue }
            guard p > 0 else { break }
            let n = read(inFd, &chunk, chunk.count)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            guard n > 0 else { break }
            buf += chunk[0..<n]
            parsed = ProbeReplies.parse(buf)
        }
        r.elapsedMs = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        r.answered = parsed.da1Seen
        r.da1 = parsed.da1
        r.kittyReply = parsed.kitty
        r.strayBytes = parsed.stray
        r.sixelRegisters = parsed.registers
        if let (w, h) = parsed.cell, w > 0, h > 0, w < 1000, h < 1000 {
            r.cellWidth = w
            r.cellHeight = h
            r.cellSource = "CSI 16 t: \(w)×\(h) px"
        } else if r.cellWidth == 0, let (w, h) = parsed.area, w > 0, h > 0, ws.ws_col > 0, ws.ws_row > 0 {
            r.cellWidth = w / Int(ws.ws_col)
            r.cellHeight = h / Int(ws.ws_row)
            r.cellSource = "CSI 14 t: \(w)×\(h) px for \(ws.ws_col)×\(ws.ws_row) cells"
        }
        if !parsed.da1Seen {
            // A slow terminal's late replies must not become keys: drop whatever is pending.
            tcflush(inFd, TCIFLUSH)
        }
        return finish(r)
    }

    private static func finish(_ r: TerminalReport) -> TerminalReport {
        var r = r
        if r.cellWidth <= 0 || r.cellHeight <= 0 {
            // notcurses assumes the same when tmux reports no pixel size.
            r.cellWidth = 10
            r.cellHeight = 20
            r.cellSource = "assumed: the terminal reported no pixel size"
        }
        return r
    }
}

/// The replies found in the bytes read so far.
struct ProbeReplies {
    var da1Seen = false
    var da1: [Int] = []
    var kitty: String?
    var cell: (Int, Int)?
    var area: (Int, Int)?
    var registers: Int?
    var stray = 0

    /// Scans `b` for `ESC _G … ESC \` (kitty), `CSI ? … c` (DA1), `CSI 6;h;w t` and `CSI 4;h;w t`;
    /// anything else counts as stray.
    static func parse(_ b: [UInt8]) -> ProbeReplies {
        var r = ProbeReplies()
        var i = 0
        while i < b.count {
            guard b[i] == 0x1B, i + 1 < b.count else { r.stray += 1; i += 1; continue }
            if b[i + 1] == 0x5F {  // APC
                var j = i + 2
                while j + 1 < b.count && !(b[j] == 0x1B && b[j + 1] == 0x5C) { j += 1 }
                guard j + 1 < b.count else { return r }  // incomplete: wait for more
                let body = String(decoding: b[(i + 2)..<j], as: UTF8.self)
                if body.hasPrefix("G"), let semi = body.firstIndex(of: ";") {
                    r.kitty = String(body[body.index(after: semi)...])
                }
                i = j + 2
                continue
            }
            if b[i + 1] == 0x5B {  // CSI: parameters, then a final byte in 0x40…0x7E
                var j = i + 2
                while j < b.count && !(0x40...0x7E).contains(b[j]) { j += 1 }
                guard j < b.count else { return r }
                let params = String(decoding: b[(i + 2)..<j], as: UTF8.self)
                let final = b[j]
                if final == 0x63, params.hasPrefix("?") {  // 'c'
                    r.da1Seen = true
                    r.da1 = params.dropFirst().split(separator: ";").compactMap { Int($0) }
                } else if final == 0x53, params.hasPrefix("?") {  // 'S': XTSMGRAPHICS ? item ; status ; value
                    let v = params.dropFirst().split(separator: ";").compactMap { Int($0) }
                    if v.count >= 3 && v[0] == 1 && v[1] == 0 { r.registers = v[2] }
                } else if final == 0x74 {  // 't'
                    let v = params.split(separator: ";").compactMap { Int($0) }
                    if v.count == 3 && v[0] == 6 { r.cell = (v[2], v[1]) }
                    if v.count == 3 && v[0] == 4 { r.area = (v[2], v[1]) }
                } else {
                    r.stray += j + 1 - i
                }
                i = j + 1
                continue
            }
            r.stray += 1
            i += 1
        }
        return r
    }
}

import CNCursesW
import Foundation

/// `scalewise doctor`: what this terminal can show and why, in the order the UI decides it.
public enum Doctor {
    public static func report(graphics choice: GraphicsChoice, timeoutMs: Int = TerminalProbe.defaultTimeoutMs) -> [String] {
        let env = ProcessInfo.processInfo.environment
        var out: [String] = []
        let term = env["TERM"] ?? ""
        setlocale(LC_ALL, "")
        let codeset = String(cString: nl_langinfo(nl_item(CODESET)))
        out.append("terminal:       TERM=\(term.isEmpty ? "(unset)" : term)"
                   + (env["TERM_PROGRAM"].map { ", TERM_PROGRAM=\($0)" } ?? "")
                   + (env["COLORTERM"].map { ", COLORTERM=\($0)" } ?? "")
                   + ((env["TMUX"] ?? "").isEmpty ? "" : ", inside tmux"))
        out.append("locale:         \(codeset)" + (codeset == "UTF-8" ? " (Unicode symbols)" : " (ASCII symbols: the locale is not UTF-8)"))
        var cup: Int32 = 0
        let colors = term.isEmpty ? -2 : Int(cw_terminfo_colors(term, &cup))
        if colors == -2 {
            out.append("terminfo:       no entry for '\(term)': the UI cannot start")
        } else {
            let direct = cw_terminfo_colors(term.split(separator: "-").first.map { String($0) + "-direct" } ?? term, &cup) > 0
            _ = cw_terminfo_colors(term, &cup)
            out.append("terminfo:       \(colors > 0 ? "\(colors) colours" : "no colour")"
                       + (direct ? "; a -direct entry exists for truecolor" : "; no -direct entry (truecolor needs ncurses-term)")
                       + (cup == 0 ? "; no cursor addressing: the UI cannot start" : ""))
        }
        // The controlling terminal, so that the report can be piped or redirected.
        let fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        defer { if fd >= 0 { close(fd) } }
        let tty = fd >= 0 && isatty(fd) == 1
        let r = TerminalProbe.run(inFd: fd, outFd: fd, timeoutMs: timeoutMs, query: tty && choice != .blocks)
        if !tty {
            out.append("probe:          not sent (no controlling terminal)")
        } else if r.queried {
            out.append("probe:          " + (r.answered ? String(format: "answered in %.1f ms", r.elapsedMs)
                                                  : String(format: "no DA1 reply within %d ms (%.1f ms)", r.timeoutMs, r.elapsedMs))
                       + (r.strayBytes > 0 ? "; \(r.strayBytes) other byte(s) dropped" : "; nothing left in the input"))
        } else {
            out.append("probe:          not sent (--graphics blocks)")
        }
        for (m, ok, why) in r.reasons {
            out.append((m.label + ":").padding(toLength: 16, withPad: " ", startingAt: 0) + (ok ? "yes" : "no") + " (\(why))")
        }
        out.append("cell size:      \(r.cellWidth)×\(r.cellHeight) px (\(r.cellSource))")
        let (mode, why) = r.mode(for: choice)
        out.append("picture:        \(mode.rawValue) (\(why))")
        return out
    }
}

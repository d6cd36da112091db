import Foundation
import ScalewiseEngine

/// The `scalewise generate` line that makes the picture on screen, and the copy to the clipboard (`C`).
extension App {
    /// The flags naming lane 0's model: as the command line named it, or the file the model picker loaded.
    var modelArguments: [String] {
        if let p = pickedModel { return ["--model", p] }
        var args = startModelArguments
        if !args.contains("--model") { args = ["--model", lanes[0].generator.name] + args }
        return args
    }

    /// The equivalent `scalewise generate` arguments for lane 0's image, or why there is none.
    func generateArguments() -> Result<[String], TUIError> {
        if edit != nil { return .failure(TUIError("an edit has no generate line (it needs its source image)")) }
        if rerolled {
            return .failure(TUIError("a re-rolled image has no generate line: s saves it, generate --from-png reproduces it"))
        }
        let g = lanes[0].generator, o = options
        var a = ["generate"] + modelArguments + ["--precision", g.precision.rawValue]
        a += ["--class", String(lanes[0].classIndex), "--seed", String(o.seed), "--cfg", "\(o.cfg)", "--cfg-mode", o.cfgMode.rawValue,
              "--top-k", String(o.topK), "--top-p", "\(o.topP)"]
        if let t = o.temperature, t != 1 { a += ["--temperature", "\(t)"] }
        if o.moreSmooth { a.append("--more-smooth") }
        if g.schedules.count > 1 { a += ["--steps", String(lanes[0].total)] }
        a += ["-o", Saver.baseName(className: g.classNames[lanes[0].classIndex], seed: o.seed) + ".png"]
        return .success(a)
    }

    /// Copies the line with OSC 52 and shows it in the status line.
    func copyCommandLine() {
        switch generateArguments() {
        case .failure(let e):
            logLine("no line: \(e.description)")
            message = e.description
        case .success(let args):
            let line = (["scalewise"] + args).map(shellWord).joined(separator: " ")
            writeOut(OSC52.copy(line, tmux: report.insideTmux))
            logLine("copied \(line)")
            // The status line holds a short line; a longer one is shown whole in a box, wrapped.
            let room = painter.width - "? help · q quit ".count - " ready │ copied: ".count - 3
            if line.count <= room {
                message = "copied: " + line
            } else {
                message = "copied \(line.count) characters"
                overlay = .note(title: "copied to the clipboard (Esc closes)", text: line)
            }
        }
    }

    /// Lines of at most `width` characters, broken at spaces; a longer word (a path) is broken where it must be.
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = [], cur = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            var w = Substring(word)
            if !cur.isEmpty && cur.count + 1 + w.count > width {
                lines.append(cur)
                cur = ""
            }
            while w.count > width {
                if !cur.isEmpty { lines.append(cur); cur = "" }
                lines.append(String(w.prefix(width)))
                w = w.dropFirst(width)
            }
            cur += (cur.isEmpty ? "" : " ") + w
        }
        return lines + (cur.isEmpty ? [] : [cur])
    }

    /// Writes straight to the terminal, between curses' updates (OSC 52 moves no cursor and draws nothing).
    private func writeOut(_ bytes: [UInt8]) {
        var off = 0
        bytes.withUnsafeBytes { p in
            while off < p.count {
                let n = Glibc.write(1, p.baseAddress! + off, p.count - off)
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                guard n > 0 else { return }
                off += n
            }
        }
    }
}

/// A word for a POSIX shell: as it is when only safe characters, else in single quotes.
func shellWord(_ s: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=.,/:@%")
    if !s.isEmpty && s.allSatisfy({ safe.contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Clipboard writes: xterm's "Manipulate Selection Data" (ctlseqs, OSC 52): `OSC 52 ; c ; base64 ST`, `c` naming
/// the clipboard. Inside tmux the sequence goes through its passthrough (DCS tmux; … ST, each ESC doubled).
enum OSC52 {
    static func copy(_ text: String, tmux: Bool) -> [UInt8] {
        let seq = Array("\u{1B}]52;c;\(Data(text.utf8).base64EncodedString())\u{1B}\\".utf8)
        return tmux ? TmuxPassthrough.wrap(seq) : seq
    }
}

import CNCursesW
import Foundation
import Synchronization

/// Set by signal handlers (async-signal-safe: an atomic store and a pipe write); the UI loop turns it
/// into a clean exit. 0 = none, else the signal number.
let pendingSignal = Atomic<Int32>(0)
/// The self-pipe that wakes the UI loop from `poll` (worker events, signals). Plain Int32s, not an array:
/// the signal handler must not touch reference counts. Written once, before any handler is installed.
nonisolated(unsafe) var wakeRead: Int32 = -1
nonisolated(unsafe) var wakeWrite: Int32 = -1
/// True between newterm and endwin: the crash handler restores the tty only then.
let cursesActive = Atomic<Bool>(false)
/// The tty state before curses touched it, restored by the fatal-signal handler with `tcsetattr`
/// (curses calls are not async-signal-safe; `tcsetattr` and `write` are). Written once, before any handler.
nonisolated(unsafe) var savedTermios = termios()
nonisolated(unsafe) var haveSavedTermios = false
/// The bytes the fatal path writes to put the terminal back (keypad local, mouse off, attributes off, cursor
/// on, alternate screen left), from this terminal's terminfo. A fixed buffer filled once before any handler
/// is installed: the handler only reads it.
nonisolated(unsafe) var restoreBytes: UnsafeMutablePointer<UInt8>?
nonisolated(unsafe) var restoreCount = 0

/// Owns the curses screen: start-up (locale, terminfo, colours), teardown on every exit path, and the
/// colour/glyph capabilities the renderer needs.
final class Terminal {
    let win: UnsafeMutablePointer<WINDOW>
    let screen: OpaquePointer
    /// `COLORS ≥ 2^24`: colour numbers are 0xRRGGBB.
    let direct: Bool
    let colors: Int
    let utf8: Bool
    /// The glibc of Debian 12 knows sextants' width; older ones give −1 and ncurses prints blanks.
    let sextantsOK: Bool
    let termName: String
    private(set) var ended = false

    /// Refuses what cannot host the UI, before anything is sent to the terminal: no TERM, a terminal
    /// without cursor addressing (TERM=dumb), or stdin/stdout that are not a terminal.
    static func preflight() throws {
        let term = ProcessInfo.processInfo.environment["TERM"] ?? ""
        guard !term.isEmpty else { throw TUIError("TERM is not set; the terminal UI needs a terminal") }
        if term == "dumb" || term.hasPrefix("dumb-") {
            throw TUIError("TERM=\(term) cannot move the cursor, so the terminal UI cannot run; use a real terminal or `scalewise generate`")
        }
        guard isatty(0) == 1, isatty(1) == 1 else { throw TUIError("the terminal UI needs a terminal on stdin and stdout") }
    }

    /// Opens the terminal. With `wantTruecolor`, a `<base>-direct` terminfo is tried first
    /// (xterm-256color → xterm-direct), since ncurses only emits 24-bit SGR through a direct entry.
    init(wantTruecolor: Bool) throws {
        setlocale(LC_ALL, "")
        utf8 = String(cString: nl_langinfo(nl_item(CODESET))) == "UTF-8"
        sextantsOK = utf8 && cw_wcwidth(0x1FB00) == 1
        if tcgetattr(0, &savedTermios) == 0 { haveSavedTermios = true }
        let term = ProcessInfo.processInfo.environment["TERM"] ?? ""
        guard !term.isEmpty else { throw TUIError("TERM is not set; the terminal UI needs a terminal") }
        guard isatty(0) == 1, isatty(1) == 1 else { throw TUIError("the terminal UI needs a terminal on stdin and stdout") }
        let outF = fdopen(dup(1), "w"), inF = fdopen(dup(0), "r")
        var candidates: [String] = []
        if wantTruecolor && !term.hasSuffix("-direct") {
            let base = term.split(separator: "-").first.map(String.init) ?? term
            candidates.append(base + "-direct")
        }
        candidates.append(term)
        var opened: (OpaquePointer, String)?
        for name in candidates {
            if let s = newterm(name, outF, inF) { opened = (s, name); break }
        }
        guard let (scr, name) = opened else { throw TUIError("cannot open terminal type '\(term)' (is its terminfo installed?)") }
        screen = scr
        termName = name
        set_term(scr)
        win = cw_stdscr()
        cbreak()
        noecho()
        nonl()
        keypad(win, true)
        curs_set(0)
        cw_set_escdelay(25)  // a lone Esc (cancel) must not feel stuck
        // Terminals send Home/End in several forms whatever the terminfo entry says (xterm's normal and application
        // modes, VT220, rxvt). One curses does not know arrives as Esc plus letters, and Esc closes views.
        for (seq, code) in [("\u{1B}[H", KEY_HOME), ("\u{1B}OH", KEY_HOME), ("\u{1B}[1~", KEY_HOME), ("\u{1B}[7~", KEY_HOME),
                            ("\u{1B}[F", KEY_END), ("\u{1B}OF", KEY_END), ("\u{1B}[4~", KEY_END), ("\u{1B}[8~", KEY_END)] {
            define_key(seq, code)
        }
        if has_colors() {
            start_color()
            use_default_colors()
        }
        colors = has_colors() ? Int(cw_colors()) : 0
        direct = colors >= 0x1000000
        mousemask(cw_mouse_events(), nil)
        mouseinterval(0)  // report presses at once rather than waiting to synthesise clicks
        prepareRestoreBytes()
        cursesActive.store(true, ordering: .relaxed)
        installSignalHandlers()
    }

    /// The best mode this terminal can show; `NO_COLOR` (no-color.org) means mono unless asked otherwise.
    func autoMode(wantTruecolor: Bool) -> ColorMode {
        if let nc = ProcessInfo.processInfo.environment["NO_COLOR"], !nc.isEmpty { return .mono }
        if direct && wantTruecolor { return .truecolor }
        if colors >= 256 { return .c256 }
        if colors >= 16 { return .c16 }
        return colors >= 8 ? .c8 : .mono
    }

    /// Modes this terminal can display (a direct terminal shows every indexed palette as RGB).
    func supports(_ m: ColorMode) -> Bool {
        switch m {
        case .truecolor: direct
        case .c256: direct || colors >= 256
        case .c16: direct || colors >= 16
        case .c8: direct || colors >= 8
        case .mono: true
        }
    }

    /// The colour number to hand ncurses for a colour already reduced to the active palette.
    func colorNumber(rgb c: RGB, index: Int?) -> Int32 {
        if direct {
            // direct terminfo sends numbers < 8 as ANSI palette colours: nudge near-black up.
            return Int32(max(8, c))
        }
        return Int32(index ?? 0)
    }

    func end() {
        guard !ended else { return }
        ended = true
        cursesActive.store(false, ordering: .relaxed)
        mousemask(0, nil)
        endwin()
        delscreen(screen)
    }

    deinit { end() }

    private func installSignalHandlers() {
        if wakeRead < 0 {
            var fds: [Int32] = [0, 0]
            if pipe(&fds) == 0 {
                for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
                wakeRead = fds[0]
                wakeWrite = fds[1]
            }
        }
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            signal(s) { sig in
                pendingSignal.store(sig, ordering: .relaxed)
                var b: UInt8 = 1
                _ = write(wakeWrite, &b, 1)
            }
        }
        // Crashes (a trap is SIGILL or SIGTRAP, an overflowed stack SIGSEGV): put the tty back and leave the
        // alternate screen, then die as the signal intended. The handler runs on its own stack, so a stack
        // overflow still reaches it.
        installAlternateSignalStack()
        for s in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS, SIGXCPU, SIGXFSZ] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in
                restoreTTYForCrash()
                signal(sig, SIG_DFL)
                raise(sig)
            }
            action.sa_flags = Int32(SA_ONSTACK)
            sigemptyset(&action.sa_mask)
            sigaction(s, &action, nil)
        }
        // exit() from anywhere (a library, a precondition in ArgumentParser) also restores.
        atexit { restoreTTYForCrash() }
    }

    /// Fills `restoreBytes` from terminfo (rmkx, sgr0, cnorm, rmcup), with xterm's sequences where a
    /// capability is missing, plus the mouse-reporting resets ncurses' mousemask(0) would send.
    private func prepareRestoreBytes() {
        guard restoreBytes == nil else { return }
        func cap(_ name: String, _ fallback: String) -> [UInt8] {
            guard let s = cw_tigetstr(name) else { return Array(fallback.utf8) }
            return Array(UnsafeBufferPointer(start: UnsafeRawPointer(s).assumingMemoryBound(to: UInt8.self), count: strlen(s)))
        }
        var seq = cap("rmkx", "\u{1B}[?1l\u{1B}>") + Array("\u{1B}[?1000l\u{1B}[?1002l\u{1B}[?1006l".utf8)
        seq += cap("sgr0", "\u{1B}[0m") + cap("cnorm", "\u{1B}[?25h") + cap("rmcup", "\u{1B}[?1049l") + Array("\r\n".utf8)
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: seq.count)
        p.initialize(from: seq, count: seq.count)
        restoreCount = seq.count
        restoreBytes = p
    }
}

/// Async-signal-safe restore: termios back, mouse off, attributes reset, cursor shown, alternate screen left.
func restoreTTYForCrash() {
    guard haveSavedTermios, cursesActive.exchange(false, ordering: .relaxed) else { return }
    if let p = restoreBytes { _ = write(1, p, restoreCount) }
    _ = tcsetattr(0, TCSANOW, &savedTermios)
}

/// Gives the calling thread a stack for signal handlers (SA_ONSTACK), so the crash handler runs even when
/// the thread's own stack has overflowed. Called by the UI thread and the worker; the memory is never freed
/// (it must outlive the thread's last signal).
func installAlternateSignalStack() {
    let size = 64 * 1024
    guard let mem = malloc(size) else { return }
    var ss = stack_t(ss_sp: mem, ss_flags: 0, ss_size: size)
    if sigaltstack(&ss, nil) != 0 { free(mem) }
}

/// Blocks the signals the UI thread handles, on the calling thread (the worker), so that `poll` in the
/// UI thread is the one interrupted by SIGWINCH/SIGINT and ncurses sees KEY_RESIZE promptly.
func blockUISignals() {
    installAlternateSignalStack()
    var set = sigset_t()
    sigemptyset(&set)
    for s in [SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&set, s) }
    pthread_sigmask(SIG_BLOCK, &set, nil)
}

/// Wakes the UI loop (from any thread).
func wakeUI() {
    guard wakeWrite >= 0 else { return }
    var b: UInt8 = 1
    _ = write(wakeWrite, &b, 1)
}

struct TUIError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

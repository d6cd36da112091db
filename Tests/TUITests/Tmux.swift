import Foundation
import ScalewiseEngine
import XCTest

/// Drives the real `scalewise` binary in a detached tmux pane on a private server socket and reads the
/// screen back. Every wait polls the screen with a deadline (no fixed sleeps), so a loaded 2-core CI
/// machine only makes the tests slower, not flaky.
final class TmuxPane {
    let socket: String
    let session: String
    let dir: URL

    /// The repository root, from this file's location (Tests/TUITests/Tmux.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary `swift test` built next to the test bundle (the test target depends on it).
    static var binary: String? {
        let bundleDir = Bundle.main.bundleURL.deletingLastPathComponent().path
        let candidates = [Bundle.main.bundleURL.path, bundleDir] + [".build/debug", ".build/release"].map { root.path + "/" + $0 }
        return candidates.map { $0 + "/scalewise" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static var fixtureModel: String { root.path + "/Tests/EngineTests/Fixtures/var_tiny/var.safetensors" }
    /// Random-weight FlexVAR (32 px, 16×16 final step): what edit mode needs.
    static var flexFixture: String { root.path + "/Tests/EngineTests/Fixtures/flex_tiny/flexvar.safetensors" }

    static var tmuxAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/tmux") }

    /// Starts `command` (a shell line) in a fresh pane of `width`×`height` with `env`, in a fresh folder.
    init(_ command: String, env: [String: String] = [:], width: Int = 120, height: Int = 36) throws {
        let id = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        socket = "scalewise-tui-test-\(id)"
        session = "t\(id)"
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("scalewise-tui-\(id)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // A clean, explicit environment: the test must not inherit the caller's TERM/COLORTERM/NO_COLOR.
        var e = ["LANG": "C.UTF-8", "TERM": "tmux-256color", "HOME": dir.path, "PATH": "/usr/bin:/bin",
                 "OPENBLAS_NUM_THREADS": "1",
                 // The binary would otherwise restart itself on faster kernels than this test process runs
                 // (BLASCore), and results the tests compare bit for bit would differ in the last ulp.
                 "OPENBLAS_CORETYPE": blasKernels]
        for (k, v) in env { e[k] = v }
        let envLine = e.sorted { $0.key < $1.key }.map { "\($0.key)=\(shellQuote($0.value))" }.joined(separator: " ")
        let line = "cd \(shellQuote(dir.path)) && env -i \(envLine) sh -c \(shellQuote(command)); echo EXIT=$?; sleep 600"
        // Not captured: the server this forks inherits stdout and would hold a pipe open for ever.
        try tmux(["-f", "/dev/null", "new-session", "-d", "-s", session, "-x", "\(width)", "-y", "\(height)", line], capture: false)
    }

    deinit {
        _ = try? tmux(["kill-server"], capture: false)
        // tmux leaves the socket file behind after kill-server.
        let tmp = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
        unlink("\(tmp)/tmux-\(getuid())/\(socket)")
        try? FileManager.default.removeItem(at: dir)
    }

    /// Runs tmux on this pane's socket. posix_spawn + waitpid rather than Foundation's Process, which on
    /// Linux can miss the exit of a tmux client whose server daemonised (the test then hangs for ever).
    @discardableResult
    func tmux(_ args: [String], capture: Bool = true) throws -> String {
        let argv = ["/usr/bin/tmux", "-L", socket] + args
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw TmuxError.failed("pipe") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if capture {
            posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        } else {
            // The server this forks would inherit a pipe and hold it open for ever.
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cargs, environ)
        close(fds[1])
        defer { close(fds[0]) }
        guard rc == 0 else { throw TmuxError.failed("spawn: \(rc)") }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else { throw TmuxError.failed(args.joined(separator: " ")) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The screen as text; with `colors`, including SGR escapes (`capture-pane -e`).
    func screen(colors: Bool = false) -> String {
        (try? tmux(["capture-pane", "-p", "-t", session] + (colors ? ["-e"] : []))) ?? ""
    }

    func keys(_ keys: String...) throws { try tmux(["send-keys", "-t", session] + keys) }
    func literal(_ text: String) throws { try tmux(["send-keys", "-t", session, "-l", text]) }
    func resize(_ w: Int, _ h: Int) throws { try tmux(["resize-window", "-t", session, "-x", "\(w)", "-y", "\(h)"]) }

    /// Polls until `predicate(screen)` holds; fails the test with the last screen on timeout.
    @discardableResult
    func wait(_ what: String, timeout: Double = 60, colors: Bool = false, file: StaticString = #filePath, line: UInt = #line,
              _ predicate: (String) -> Bool) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var s = ""
        while Date() < deadline {
            s = screen(colors: colors)
            if predicate(s) { return s }
            usleep(50_000)
        }
        XCTFail("timed out waiting for \(what); screen:\n\(screen())", file: file, line: line)
        return s
    }

    func wait(for text: String, timeout: Double = 60, file: StaticString = #filePath, line: UInt = #line) {
        wait("'\(text)'", timeout: timeout, file: file, line: line) { $0.contains(text) }
    }
}

enum TmuxError: Error { case failed(String) }

func shellQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

import ArgumentParser
import ScalewiseTUI

extension GraphicsChoice: ExpressibleByArgument {}

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor", abstract: "Print what this terminal supports (colours, symbols, pixel graphics, cell size) and why.")

    @Option(help: "Picture mode to report on: auto, kitty, sixel, iterm or blocks.") var graphics: GraphicsChoice = .auto
    @Option(name: .customLong("probe-timeout"), help: "Milliseconds to wait for the terminal's replies.")
    var probeTimeout = 150

    func validate() throws {
        guard (1...5000).contains(probeTimeout) else { throw ValidationError("--probe-timeout must be 1…5000 ms") }
    }

    func run() throws {
        for line in ScalewiseTUI.Doctor.report(graphics: graphics, timeoutMs: probeTimeout) { print(line) }
    }
}

import ArgumentParser
import ScalewiseEngine

struct TUICommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tui", abstract: "The interactive terminal UI (default).")

    @OptionGroup var modelOptions: ModelOptions

    func run() throws {
        throw ValidationError("the terminal UI is not built yet; use `scalewise generate --class NAME -o out.png`")
    }
}

import Foundation

/// An X/Y sheet's part of its record: the axes as given (names and values, for the labels and for `--from-png`)
/// and every cell's own full record, row by row with X varying fastest. The sheet's top-level record is its
/// first cell's, so readers that know nothing of sheets still see one valid generation.
public struct SheetRecord: Codable, Sendable, Equatable {
    public struct Axis: Codable, Sendable, Equatable {
        public var name: String
        public var values: [String]

        public init(name: String, values: [String]) {
            self.name = name
            self.values = values
        }
    }

    /// X first, then Y when there is one.
    public var axes: [Axis]
    public var cells: [GenerationRecord]

    /// No sheet of more cells than this is ever made or read.
    public static let maxCells = 1024

    public init(axes: [Axis], cells: [GenerationRecord]) {
        self.axes = axes
        self.cells = cells
    }

    public var columns: Int { axes.first?.values.count ?? 0 }
    public var rows: Int { axes.count > 1 ? axes[1].values.count : 1 }

    /// The shape and every cell of a sheet read from a file, by the rules a single record meets.
    func check(path: String) throws {
        let file = (path as NSString).lastPathComponent
        guard (1...2).contains(axes.count), axes.allSatisfy({ !$0.values.isEmpty && $0.values.count <= Self.maxCells }) else {
            throw InputError("the record in \(file): a sheet needs one or two axes, each with values")
        }
        guard columns * rows <= Self.maxCells, cells.count == columns * rows else {
            throw InputError("the record in \(file): \(cells.count) cells for a \(columns)×\(rows) sheet")
        }
        for cell in cells {
            guard cell.xy == nil, cell.grid == nil, cell.edit == nil else {
                throw InputError("the record in \(file): a sheet's cell is itself a sheet, grid or edit")
            }
            try SamplingRules.check(cell.options, from: .record(path))
            try cell.checkHashes(source: .record(path))
            try ScheduleRules.checkSizes(cell.schedule, from: "the record in \(file)")
            if let seeds = cell.scaleSeeds, seeds.count > cell.schedule.count {
                throw InputError("the record in \(file) has \(seeds.count) scale seeds for \(cell.schedule.count) scales")
            }
        }
    }
}

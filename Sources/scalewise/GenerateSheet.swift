import ArgumentParser
import Foundation
import ScalewiseEngine

/// `generate --xy`: an X/Y contact sheet (in the spirit of AUTOMATIC1111's X/Y/Z plot), and its reproduction
/// with `--from-png`, whole or one `--cell`.
extension Generate {
    /// One cell's settings, whichever way they were arrived at.
    struct CellPlan {
        var model: String?
        var classIndex: Int
        var options: SamplingOptions
        var schedule: [ScaleShape]?
        var scaleSeeds: [UInt64]?
    }

    /// The single flags a sheet's axis would contradict.
    func flagsSetting(_ kind: AxisKind) -> Bool {
        switch kind {
        case .cfg: cfg != nil
        case .topK: topK != nil
        case .topP: topP != nil
        case .temperature: temperature != nil
        case .cfgMode: cfgMode != nil || cfgConstant
        case .seed: seed != nil
        case .class: classLabel != nil
        case .steps: steps != nil || scales != nil
        case .model: modelOptions.model != nil
        }
    }

    /// Refuses what an X/Y sheet cannot be combined with (usage errors, before any model loads).
    func checkSheetFlags(_ axes: [XYAxis]) throws {
        if let c = cell {
            _ = try parseCell(c)
            if fromPNG == nil { throw ValidationError("--cell needs --from-png of an --xy sheet") }
            if count != nil || grid { throw ValidationError("--cell makes one image; --count and --grid do not apply") }
        }
        guard !axes.isEmpty else { return }
        if fromPNG != nil { throw ValidationError("--from-png reproduces the recorded image or sheet; --xy cannot be given with it") }
        if count != nil || grid { throw ValidationError("--xy makes its own sheet; --count and --grid do not apply") }
        do {
            try XYAxis.checkSheet(axes, limit: allowLarge ? SheetRecord.maxCells : XYAxis.defaultMaxCells,
                                  large: "pass --allow-large to make it anyway")
        } catch let e as InputError {
            throw ValidationError(e.message)
        }
        for a in axes where flagsSetting(a.kind) {
            let flag = a.kind == .steps ? "--steps/--scales" : a.kind == .cfgMode ? "--cfg-mode/--cfg-constant" : a.kind.flag
            throw ValidationError("\(flag) and --xy \(a.kind.rawValue) both set \(a.kind.rawValue); give one")
        }
    }

    func runSheet(record: GenerationRecord?, modelOptions: ModelOptions) throws {
        var mo = modelOptions
        // The recorded tokenizer file goes with the recorded model only: -m picks its own.
        if let r = record, let src = fromPNG, mo.model == nil, mo.tokenizer == nil, let t = r.tokenizerFile {
            mo.tokenizer = try t.located(field: "tokenizer_file", flag: "--tokenizer", record: src)
        }
        var generators: [String: Generator] = [:]
        func load(_ model: String?) throws -> Generator {
            if let g = generators[model ?? ""] { return g }
            var o = mo
            o.model = model
            let g = try o.load()
            generators[model ?? ""] = g
            return g
        }
        let axes: [XYAxis], plans: [(CellPlan, Generator)]
        if let sheet = record?.xy {
            axes = try sheet.axes.map(XYAxis.init(recorded:))
            plans = try replayPlans(sheet, axes: axes, load: load)
        } else if record != nil {
            throw EngineError.badArgument("--cell picks a cell of an --xy sheet; \(fromPNG!) is not one")
        } else {
            axes = try parseAxes(xy)
            plans = try freshPlans(axes, load: load)
        }
        let cols = axes[0].values.count, rows = axes.count > 1 ? axes[1].values.count : 1
        var picked = Array(plans.indices)
        if let c = cell {
            let (x, row) = try parseCell(c)
            // A lone X names a column of a one-axis sheet; on a two-axis sheet it would quietly mean row 0.
            guard let y = row ?? (axes.count == 1 ? 0 : nil) else {
                throw EngineError.badArgument("--cell must be X,Y (zero-based column and row) for a two-axis sheet (got '\(c)')")
            }
            guard x < cols, y < rows else {
                throw EngineError.badArgument("--cell \(x),\(y) is outside the sheet's \(cols)×\(rows) cells (zero-based)")
            }
            picked = [y * cols + x]
        }
        var images: [RGBImage] = [], records: [GenerationRecord] = [], tokens: [[[Int32]]] = []
        for (n, i) in picked.enumerated() {
            let (plan, gen) = plans[i]
            let (image, rec, t) = try render(gen, classIndex: plan.classIndex, options: plan.options, schedule: plan.schedule,
                                             scaleSeeds: plan.scaleSeeds, label: picked.count > 1 ? "cell \(n + 1)/\(picked.count)" : "")
            images.append(image)
            records.append(rec)
            tokens.append(t)
        }
        if picked.count == 1 && cell != nil {
            try save(images[0], record: records[0], to: output)
        } else {
            var rec = records[0]
            rec.xy = SheetRecord(axes: axes.map(\.record), cells: records)
            let sheet = makeContactSheet(images, columnLabels: (0..<cols).map { axes[0].label($0) },
                                         rowLabels: axes.count > 1 ? (0..<rows).map { axes[1].label($0) } : [])
            try save(sheet, record: rec, to: output)
        }
        if let path = tokensOut { try writeTokens(tokens, to: path) }
    }

    /// Cells from the flags: every setting as the flags (or the model) say, then the cell's axis values over them.
    private func freshPlans(_ axes: [XYAxis], load: (String?) throws -> Generator) throws -> [(CellPlan, Generator)] {
        // One seed for the whole sheet, also when it is random, so the cells differ only by their axes.
        let baseSeed = (seed ?? SeedFlag(0)).resolve(quiet: quiet)
        var plans: [(CellPlan, Generator)] = []
        for v in XYAxis.cellValues(axes) {
            let model = v[.model] ?? modelOptions.model
            let gen = try load(model)
            var o = gen.defaults
            try applySamplingFlags(to: &o, gen: gen)
            o.seed = baseSeed
            // The flags and the axes never set the same thing (checkSheetFlags), so the axis goes over them.
            do {
                try XYAxis.apply(v, to: &o, family: gen.modelFamily)
            } catch let e as InputError {
                throw ValidationError(e.message)
            }
            let classIndex = try gen.resolveClass(v[.class] ?? classLabel!)
            var schedule = try chooseSchedule(gen)
            if let sc = schedule, scales != nil { try checkScheduleSize(sc, gen: gen, allowLarge: allowLarge) }
            if let text = v[.steps], let n = Int(text) {
                do {
                    schedule = try XYAxis.schedule(steps: n, of: gen)
                } catch let e as InputError {
                    throw EngineError.badArgument(e.message)
                }
            }
            plans.append((CellPlan(model: model, classIndex: classIndex, options: o, schedule: schedule), gen))
        }
        return plans
    }

    /// Cells from a sheet's record, each exactly as recorded; a flag given with it applies to every cell, and one
    /// that would replace an axis is refused rather than silently making another sheet.
    private func replayPlans(_ sheet: SheetRecord, axes: [XYAxis],
                             load: (String?) throws -> Generator) throws -> [(CellPlan, Generator)] {
        for a in axes where flagsSetting(a.kind) {
            throw EngineError.badArgument("\(fromPNG!) is a sheet over \(a.kind.rawValue); \(a.kind.flag) would replace its axis "
                                          + "(make a new sheet with --xy instead)")
        }
        if count != nil || grid { throw EngineError.badArgument("\(fromPNG!) is an --xy sheet; --count and --grid cannot reshape it (use --cell)") }
        let cols = sheet.columns
        let newSeed = (seed ?? SeedFlag(0)).resolve(quiet: quiet)
        var plans: [(CellPlan, Generator)] = []
        for (i, c) in sheet.cells.enumerated() {
            // A model axis records the models as given (paths too); otherwise --model, then the recorded file
            // (a model named by path, which must still be there), then the recorded name.
            var model = try modelOptions.model
                ?? c.modelFile?.located(field: "model_file", flag: "-m", record: fromPNG!) ?? c.model
            for (k, a) in axes.enumerated() where a.kind == .model { model = a.values[k == 0 ? i % cols : i / cols] }
            let gen = try load(model)
            try c.checkFiles(gen, model: modelOptions.model == nil,
                             tokenizer: modelOptions.model == nil && modelOptions.tokenizer == nil, path: fromPNG!, modelFlag: "-m")
            try checkRecordedSchedule(c, of: fromPNG!, fits: gen)
            var o = c.options
            try applySamplingFlags(to: &o, gen: gen)
            if seed != nil { o.seed = newSeed }
            let classIndex = try classLabel.map { try gen.resolveClass($0) } ?? c.classIndex
            plans.append((CellPlan(model: model, classIndex: classIndex, options: o, schedule: c.schedule,
                                   scaleSeeds: seed == nil ? c.scaleSeeds : nil), gen))
        }
        return plans
    }
}

/// `--xy` flags as axes; a bad one is a usage error.
func parseAxes(_ specs: [String]) throws -> [XYAxis] {
    do {
        return try specs.map(XYAxis.init(parsing:))
    } catch let e as InputError {
        throw ValidationError(e.message)
    }
}

/// "2,1" → column 2, row 1; "2" → column 2 and no row (a one-axis sheet's). Zero-based.
func parseCell(_ text: String) throws -> (x: Int, y: Int?) {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard (1...2).contains(parts.count), parts.allSatisfy({ ($0 ?? -1) >= 0 }) else {
        throw ValidationError("--cell must be X,Y (zero-based column and row) or X for a one-axis sheet (got '\(text)')")
    }
    return (parts[0]!, parts.count == 2 ? parts[1]! : nil)
}

import Foundation

/// What to regenerate in an image (FlexVAR paper §4.4).
public enum EditPlan: CustomStringConvertible, Sendable {
    /// White mask pixels are regenerated, black ones kept.
    case inpaint(mask: RGBImage)
    /// Double the canvas on one side ("left", "right", "up", "down") and generate the new half.
    case extend(String)
    /// Keep every step up to this size from the image, regenerate the finer ones.
    case refine(upTo: Int)

    public var description: String {
        switch self {
        case .inpaint: return "inpaint"
        case .extend(let s): return "extend \(s)"
        case .refine(let n): return "refine from \(n)"
        }
    }

    /// `schedule` reshaped to an image's aspect, so an edit keeps it: the longer side keeps each step's size, the
    /// shorter one scales with it (FlexVAR takes any h×w per step). A square image keeps the schedule as it is.
    public static func schedule(_ schedule: [ScaleShape], width: Int, height: Int) -> [ScaleShape] {
        guard width != height, width > 0, height > 0 else { return schedule }
        return schedule.map { s in
            let n = max(s.h, s.w)
            let short = max(1, Int((Double(n) * Double(min(width, height)) / Double(max(width, height))).rounded()))
            return width > height ? ScaleShape(short, n) : ScaleShape(n, short)
        }
    }

    /// Whether an extend adds columns (left, right) rather than rows.
    var horizontal: Bool {
        guard case .extend(let side) = self else { return false }
        return side == "left" || side == "right"
    }

    /// The steps an edit of a `width`×`height` image runs over `schedule` (shaped like the image): the same,
    /// except for an extend. Extending keeps the image's pixels per token, so the output is the image plus the
    /// new half: the steps are rescaled to end at the image's own token map (its sides over `downsample`,
    /// rounded) and doubled on the extended side, the first staying 1×1. On a small image rounding can repeat
    /// a size; repeats are dropped, as steps must grow.
    public func steps(for schedule: [ScaleShape], width: Int, height: Int, downsample: Int) -> [ScaleShape] {
        guard case .extend = self, let last = schedule.last, width > 0, height > 0 else { return schedule }
        let d = Double(max(downsample, 1)), n = Double(max(last.h, last.w, 1))
        let th = max(1, Int((Double(height) / d).rounded())), tw = max(1, Int((Double(width) / d).rounded()))
        var steps: [ScaleShape] = []
        for s in schedule {
            let k = Double(max(s.h, s.w)) / n
            let h = max(1, Int((Double(th) * k).rounded())), w = max(1, Int((Double(tw) * k).rounded()))
            let step = steps.isEmpty ? ScaleShape(1, 1) : horizontal ? ScaleShape(h, w * 2) : ScaleShape(h * 2, w)
            if let p = steps.last, step.h < p.h || step.w < p.w || step.count <= p.count { continue }
            steps.append(step)
        }
        return steps
    }

    /// The image's token map inside an extend's last step (that step less the new half).
    func kept(_ last: ScaleShape) -> ScaleShape {
        horizontal ? ScaleShape(last.h, last.w / 2) : ScaleShape(last.h / 2, last.w)
    }
}

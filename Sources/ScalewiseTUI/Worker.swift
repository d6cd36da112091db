import Foundation
import ScalewiseEngine
import Synchronization

/// One scale as the UI shows it: the engine's result plus the images to draw.
struct ScaleFrame: Sendable {
    var result: ScaleResult
    /// The cheap latent→RGB projection (one pixel per latent cell).
    var projection: RGBImage
    /// The full decode; only for the last scale of a schedule (the final image).
    var decoded: RGBImage?
    /// Milliseconds the preview (projection or decode) took.
    var previewMs: Double
    /// When the worker finished this frame (monotonic ns).
    var readyNs: UInt64
    /// The chosen tokens' probabilities and entropies (nil for families whose sessions keep no logits).
    var stats: TokenStats? = nil
}

/// Work the UI asks for. Every job applies to all lanes (one lane, or two in compare mode).
enum Job: Sendable {
    /// Fresh sessions (nothing generated): one generator, class and options per lane.
    case configure([LaneSpec])
    /// Step every lane until it has `count` scales (capped at its schedule).
    case advance(to: Int)
    /// Rewind to `k` scales, change the seed of the rest, and run to `count` scales.
    case reroll(from: Int, seed: UInt64, to: Int)
    /// Finish the run if needed, then save lane 0's image (and with `strip`, the strip + animation).
    case save(dir: String, strip: Bool)
    /// Load a model file.
    case load(path: String, lane: Int, precision: Precision)
    /// Lane 0's image with scales `from`… re-sampled under each of `seeds`, in sessions of their own (lane 0's
    /// stays as it is); each candidate's final image is posted as it is done.
    case variations(from: Int, seeds: [UInt64])
    /// The cells of an X/Y sheet, each a fresh session run to its last scale; each is posted as it is done.
    case xy(cells: [LaneSpec])
}

struct LaneSpec: Sendable {
    var generator: Generator
    var classIndex: Int
    var options: SamplingOptions
    var schedule: [ScaleShape]?
    /// Edit mode: the session edits this image instead of generating from nothing (FlexVAR only).
    var edit: EditJob? = nil
    /// Per-scale seeds of a re-rolled image being re-opened from its record.
    var scaleSeeds: [UInt64]? = nil
    /// The file the model came from, when known: what the history index records.
    var modelPath: String? = nil
}

/// A FlexVAR edit to run: the source image, the plan and how the saved PNG's record names it.
struct EditJob: Sendable {
    var image: RGBImage
    var plan: EditPlan
    var label: String
}

enum WorkerEvent: Sendable {
    case frame(lane: Int, epoch: Int, frame: ScaleFrame)
    /// A job ended (normally, cancelled, or with an error message).
    case idle(epoch: Int, cancelled: Bool)
    case failed(epoch: Int, message: String)
    case saved(paths: [String], strip: Bool)
    case loaded(generator: Generator, lane: Int)
    /// An image was logged in the history (its PNG), or could not be (why).
    case history(path: String?, error: String?)
    /// One candidate of a `variations` job: its index, seed and final image.
    case variation(epoch: Int, index: Int, seed: UInt64, image: RGBImage)
    /// One cell of an `xy` job: its index, final image and record.
    case xyCell(epoch: Int, index: Int, image: RGBImage, record: GenerationRecord)
    /// A running X/Y cell finished scale `done` of `total`: its projection.
    case xyStep(epoch: Int, index: Int, done: Int, total: Int, image: RGBImage?)
}

/// Runs the engine on its own thread. Sessions are not thread-safe; this thread is the only one that
/// touches them, so the UI thread never blocks on a scale and only ever sees finished frames.
/// `@unchecked Sendable`: the queue is behind a `Mutex` and the cancel count is atomic, but `lanes` (sessions are not
/// `Sendable`) is a plain property that only the worker thread reads and writes.
final class Worker: @unchecked Sendable {
    private struct Queue {
        var jobs: [(job: Job, epoch: Int, cancelGen: Int)] = []
        var events: [WorkerEvent] = []
        var busy = false
    }
    private let state = Mutex(Queue())
    private let wake = NSCondition()
    /// Bumped by `cancel()`; a job compares it with the value it was submitted under, between scales.
    private let cancelGen = Atomic<Int>(0)

    // Touched only on the worker thread.
    private var lanes: [(spec: LaneSpec, session: GenerationSession)] = []
    /// Where finished images are logged; nil when history is off.
    let history: History?
    /// No `--threads`: each model loaded resets the thread count by `ThreadRule` (the largest model shown decides).
    let autoThreads: Bool

    init(history: History?, autoThreads: Bool) {
        self.history = history
        self.autoThreads = autoThreads
        let t = Thread { [self] in
            blockUISignals()
            loop()
        }
        t.name = "scalewise-engine"
        t.start()
    }

    func submit(_ job: Job, epoch: Int) {
        let gen = cancelGen.load(ordering: .acquiring)
        state.withLock { $0.jobs.append((job, epoch, gen)) }
        wake.lock()
        wake.signal()
        wake.unlock()
    }

    /// Stops the running job at the next scale boundary and drops queued generation; queued
    /// `configure`/`load` jobs stay, so the sessions still match what the UI shows.
    func cancel() {
        cancelGen.add(1, ordering: .releasing)
        state.withLock { s in
            s.jobs.removeAll {
                switch $0.job {
                case .configure, .load: false
                case .advance, .reroll, .save, .variations, .xy: true
                }
            }
        }
    }

    var isBusy: Bool { state.withLock { $0.busy || !$0.jobs.isEmpty } }

    /// Waits (bounded) for the job in flight to reach its next scale boundary after `cancel()`.
    func waitIdle(timeout seconds: Double) {
        let end = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
        while isBusy && DispatchTime.now().uptimeNanoseconds < end { usleep(5_000) }
    }

    func drain() -> [WorkerEvent] {
        state.withLock { s in
            defer { s.events.removeAll() }
            return s.events
        }
    }

    private func post(_ e: WorkerEvent) {
        state.withLock { $0.events.append(e) }
        wakeUI()
    }

    private func loop() {
        while true {
            wake.lock()
            var next: (job: Job, epoch: Int, cancelGen: Int)?
            while next == nil {
                next = state.withLock { s in
                    guard !s.jobs.isEmpty else { return nil }
                    s.busy = true
                    return s.jobs.removeFirst()
                }
                if next == nil { wake.wait() }
            }
            wake.unlock()
            guard let (job, epoch, gen) = next else { continue }
            let cancelled = { self.cancelGen.load(ordering: .acquiring) != gen }
            do {
                try run(job, epoch: epoch, cancelled: cancelled)
                post(.idle(epoch: epoch, cancelled: cancelled()))
            } catch {
                post(.failed(epoch: epoch, message: "\(error)"))
            }
            state.withLock { $0.busy = false }
            wakeUI()
        }
    }

    private func run(_ job: Job, epoch: Int, cancelled: () -> Bool) throws {
        switch job {
        case .configure(let specs):
            // A configure that throws (an edit whose image cannot be encoded) must not leave the old sessions
            // to be stepped under the new epoch.
            lanes = []
            lanes = try specs.map { ($0, try Worker.session($0)) }
        case .advance(let count):
            try advance(to: count, epoch: epoch, cancelled: cancelled)
        case .reroll(let k, let seed, let count):
            for l in lanes { l.session.reroll(from: k, seed: seed) }
            try advance(to: count, epoch: epoch, cancelled: cancelled)
        case .save(let dir, let strip):
            guard !lanes.isEmpty else { return }
            try advance(to: Int.max, epoch: epoch, cancelled: cancelled)
            if cancelled() { return }
            let l = lanes[0]
            post(.saved(paths: try Saver.save(l.spec.generator, l.session, dir: dir, strip: strip, edit: l.spec.edit?.label),
                        strip: strip))
        case .load(let path, let lane, let precision):
            // Paths here come from the model folders (the picker) or a record: recorded by name when the name finds them.
            let g = try ModelLoader.load(path, precision: precision, foundByName: true)
            if autoThreads {
                let others = lanes.indices.filter { $0 != lane }.map { lanes[$0].spec.generator }
                setThreads(ThreadRule.choose(for: [g] + others, cores: ProcessInfo.processInfo.activeProcessorCount).count)
            }
            post(.loaded(generator: g, lane: lane))
        case .variations(let k, let seeds):
            try variations(from: k, seeds: seeds, epoch: epoch, cancelled: cancelled)
        case .xy(let cells):
            for (i, spec) in cells.enumerated() {
                guard !cancelled() else { return }
                let s = try Worker.session(spec)
                s.keepLogits = false
                post(.xyStep(epoch: epoch, index: i, done: 0, total: s.scales.count, image: nil))  // started
                while s.completed < s.scales.count {
                    guard !cancelled() else { return }
                    _ = try s.step()
                    // The projection is what the main view shows between scales: a pixel per latent cell, cheap.
                    if s.completed < s.scales.count {
                        post(.xyStep(epoch: epoch, index: i, done: s.completed, total: s.scales.count,
                                     image: s.preview(after: s.completed, tier: .projection)))
                    }
                }
                post(.xyCell(epoch: epoch, index: i, image: s.preview(after: s.completed, tier: .decoded),
                             record: GenerationRecord(generator: spec.generator, session: s)))
            }
        }
    }

    /// Each candidate is a fresh session with lane 0's seeds before scale `k` (so the same tokens there) and its
    /// own seed from `k` on: the very image `reroll(from: k, seed:)` makes in lane 0 when it is kept.
    private func variations(from k: Int, seeds: [UInt64], epoch: Int, cancelled: () -> Bool) throws {
        guard let base = lanes.first else { return }
        var spec = base.spec
        spec.scaleSeeds = nil
        let before = base.session.scaleSeeds
        for (i, seed) in seeds.enumerated() {
            guard !cancelled() else { return }
            let s = try Worker.session(spec)
            s.keepLogits = false
            for j in 0..<s.scales.count { s.overrideSeed(scale: j, seed: j < k && j < before.count ? before[j] : seed) }
            while s.completed < s.scales.count {
                guard !cancelled() else { return }
                _ = try s.step()
            }
            post(.variation(epoch: epoch, index: i, seed: seed, image: s.preview(after: s.completed, tier: .decoded)))
        }
    }

    /// Logs lane 0's finished image; a failure is news for the status line, never an error of the run.
    private func logHistory(_ l: (spec: LaneSpec, session: GenerationSession), image: RGBImage) {
        guard let h = history, l.spec.edit == nil else { return }
        do {
            let path = try h.add(image, record: GenerationRecord(generator: l.spec.generator, session: l.session),
                                 modelPath: l.spec.modelPath)
            post(.history(path: path, error: nil))
        } catch {
            post(.history(path: nil, error: "\(error)"))
        }
    }

    /// A plain session, or for an edit one whose constraints teacher-force the kept region (the encoding of
    /// the image happens here, on the worker thread).
    private static func session(_ spec: LaneSpec) throws -> GenerationSession {
        let s: GenerationSession
        if let e = spec.edit {
            let g = spec.generator
            guard g.capabilities.canEdit else { throw TUIError("edit needs a FlexVAR model") }
            s = try g.makeEditSession(image: e.image, plan: e.plan, classIndex: spec.classIndex, options: spec.options,
                                      schedule: spec.schedule ?? g.defaultSchedule).0
        } else {
            s = try spec.generator.makeSession(classIndex: spec.classIndex, options: spec.options, schedule: spec.schedule)
            for (k, seed) in (spec.scaleSeeds ?? []).enumerated() where k < s.scales.count { s.overrideSeed(scale: k, seed: seed) }
        }
        // The guided logits of each step feed the probability and entropy heat maps (`d`).
        s.keepLogits = true
        return s
    }

    /// Steps the lanes in turn, one scale each, posting every frame as soon as it exists.
    private func advance(to count: Int, epoch: Int, cancelled: () -> Bool) throws {
        while !cancelled() {
            var stepped = false
            for (i, l) in lanes.enumerated() {
                let s = l.session
                guard s.completed < min(count, s.scales.count), !cancelled() else { continue }
                let r = try s.step()
                let stats = TokenStats.compute(logits: s.lastLogits, tokens: r.tokens, shape: r.shape)
                let t0 = DispatchTime.now().uptimeNanoseconds
                let last = s.completed == s.scales.count
                let proj = s.preview(after: s.completed, tier: .projection)
                let dec = last ? s.preview(after: s.completed, tier: .decoded) : nil
                let t1 = DispatchTime.now().uptimeNanoseconds
                post(.frame(lane: i, epoch: epoch, frame: ScaleFrame(result: r, projection: proj, decoded: dec,
                                                                      previewMs: Double(t1 - t0) / 1e6, readyNs: t1, stats: stats)))
                stepped = true
                if i == 0, last, let d = dec { logHistory(l, image: d) }
            }
            if !stepped { return }
        }
    }
}

import ScalewiseEngine

/// Compare mode runs each model as `scalewise generate -m <model>` would with the knobs the user changed: a knob
/// the user never set and still at the first model's default takes the second model's own default (VAR ramps guidance, FlexVAR and AiM
/// hold it constant), and a guidance rule named on the command line applies to both models that offer it.
extension App {
    /// The sampling options lane `l` runs with.
    func laneOptions(_ l: Int) -> SamplingOptions {
        guard l > 0, l < lanes.count else { return options }
        let base = lanes[0].generator.defaults, g = lanes[l].generator
        var o = g.defaults
        o.seed = options.seed
        func mine(_ k: Knob, _ changed: Bool) -> Bool { pinned.contains(k) || changed }
        if mine(.cfg, options.cfg != base.cfg) { o.cfg = options.cfg }
        if mine(.topK, options.topK != base.topK) { o.topK = options.topK }
        if mine(.topP, options.topP != base.topP) { o.topP = options.topP }
        if mine(.smooth, options.moreSmooth != base.moreSmooth) { o.moreSmooth = options.moreSmooth }
        if options.temperature != base.temperature { o.temperature = options.temperature }
        let rule = explicitRule ?? (options.cfgMode != base.cfgMode ? options.cfgMode : nil)
        if let r = rule, g.info.family.cfgModes.contains(r) { o.cfgMode = r }
        return o
    }

    /// The cfg knob's rule: the one rule, "both" when the user named it for two models, else each model's own.
    var ruleLabel: String {
        guard lanes.count > 1 else { return options.cfgMode.rawValue }
        let rules = lanes.indices.map { laneOptions($0).cfgMode }
        if rules.allSatisfy({ $0 == rules[0] }) { return rules[0].rawValue + (explicitRule != nil ? " (both)" : "") }
        return rules.map(\.rawValue).joined(separator: "/")
    }
}

/// Where an engine keeps its durable log when `serve` is given no `--data-dir`.
public enum DataDirectory {
    /// The default data directory of the engine called `name`:
    /// `$XDG_STATE_HOME/policybus/NAME`, else `$HOME/.local/state/policybus/NAME`,
    /// else `./policybus-data/NAME`.
    ///
    /// State, not cache or config: the XDG base directory specification puts
    /// data that should survive restarts but is not portable there. Two engines
    /// with the same name on one machine must be given different directories;
    /// the log's lock makes the second one fail at start with a clear error.
    /// - Parameters:
    ///   - name: the engine's node name (`--name`).
    ///   - environment: the process environment, e.g.
    ///     `ProcessInfo.processInfo.environment`.
    public static func defaultPath(name: String, environment: [String: String]) -> String {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") {
            return state + "/policybus/" + name
        }
        if let home = environment["HOME"], !home.isEmpty {
            return home + "/.local/state/policybus/" + name
        }
        return "./policybus-data/" + name
    }
}

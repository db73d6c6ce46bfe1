import PolicyEngine
import ZeroMQ

extension Node {
    /// Creates an engine node: binds, asks peers for their columns, loads the
    /// policies and subscribes to the remote tables they read. Call `run()` on
    /// the same thread.
    /// - Throws: `BusError`: a bind failure, or the language's error for a policy.
    public static func engine(_ options: NodeOptions, setup: EngineSetup, context: Context) throws(BusError) -> Node {
        var options = options
        if options.dataEndpointDirectory == nil { options.dataEndpointDirectory = setup.dataDirectory }
        return try Node(options: options, context: context) { nodeContext throws(BusError) in
            let behavior = EngineBehavior(engine: Engine(), context: nodeContext)
            try behavior.start(setup)
            return behavior
        }
    }

    /// The engine of an engine node (nil for a data source). Use it only on the node's thread.
    public var engine: Engine? { behavior.policyEngine }
}

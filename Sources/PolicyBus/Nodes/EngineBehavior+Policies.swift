import PolicyEngine
import PolicyStore
import ZeroMQ

/// `policy-create` and `policy-delete`: policies that come and go while the
/// engine runs, durable like rules (a `create-policy` or `delete-policy`
/// record, fsync'd before the reply) and audited like them (`Node.accepted`).
extension EngineBehavior {
    /// Creates the policy, with `rules` (policy text) loaded in the same
    /// transaction when given: both or neither, and both in the log.
    /// - Throws: `policy-exists`; `bad-policy-name` for a peer's service (its
    ///   tables would stop coming from the peer); the language's codes for
    ///   `rules`; `internal` when the log cannot be written (nothing changed).
    func createPolicy(_ name: String, rules: String?) throws(BusError) {
        guard !engine.policies.contains(name) else {
            throw BusError(.policyExists, "engine \(context.name) has a policy '\(name)' already")
        }
        guard !peers.contains(where: { $0.service == name }) else {
            throw BusError(.badPolicyName, "'\(name)' is the service of one of this engine's peers; its tables come from there")
        }
        if let rules, rules.contains(where: { !$0.isWhitespace }) {
            do { try engine.createPolicy(name) } catch { throw BusError(error) }
            var transaction = Transaction()
            transaction.insertRules(rules, policy: name)
            do {
                try applyDurably(transaction, records: [.createPolicy(name: name), .insertRules(policy: name, text: rules)])
            } catch {
                // Still empty: nothing to undo but the name.
                try? engine.deletePolicy(name)
                throw error
            }
        } else {
            if let log = durability?.log {
                do {
                    try log.append([.createPolicy(name: name)])
                } catch {
                    throw BusError(.internal, "cannot make the change durable, so nothing changed: \(error)")
                }
            }
            do { try engine.createPolicy(name) } catch { throw BusError(error) }
        }
        // Its tables, read by rules as a peer's until now, are local from here on.
        updateRemote(now: monotonicNanoseconds())
    }

    /// Removes the policy's rules and facts in one transaction, logged before
    /// it commits; the triggers of its tables publish their deltas to empty.
    /// - Throws: `unknown-policy`; `policy-in-use` when another policy's rules
    ///   read its tables (delete those rules first); `internal` when the log
    ///   cannot be written (nothing changed).
    func deletePolicy(_ name: String) throws(BusError) {
        guard engine.policies.contains(name) else {
            throw BusError(.unknownPolicy, "there is no policy '\(name)' at engine \(context.name)")
        }
        let readers = engine.readers(of: name)
        if let first = readers.first {
            throw BusError(
                .policyInUse,
                "\(readers.count) rule(s) of other policies read \(name)'s tables, first \(first.policy): \(first.text); delete them first")
        }
        let log = durability?.log
        do {
            try timed { () throws in try engine.deletePolicy(name) { try log?.append([.deletePolicy(name: name)]) } }
        } catch let error as PolicyError {
            throw BusError(error)
        } catch {
            throw BusError(.internal, "cannot make the change durable, so nothing changed: \(error)")
        }
        updateRemote(now: monotonicNanoseconds())
    }
}

import PolicyEngine

/// Who subscribes to what at a node, and until when each client's lease runs.
///
/// Pure bookkeeping: it reports which tables gained their first subscriber
/// or lost their last one, and the node opens or closes them. Clients are
/// ``ClientIdentity``s, so a client id sent under one CURVE key never
/// touches the subscriptions of the same id sent under another.
public struct SubscriptionRegistry: Sendable {
    public struct Client: Hashable, Sendable {
        public var tables: Set<TableID> = []
        /// Lease end, monotonic nanoseconds.
        public var deadline: UInt64
    }

    public private(set) var clients: [ClientIdentity: Client] = [:]
    public private(set) var subscribers: [TableID: Set<ClientIdentity>] = [:]

    public init() {}

    /// Tables that have at least one subscriber.
    public var subscribedTables: [TableID] { subscribers.keys.sorted() }

    public func subscriberCount(_ table: TableID) -> Int { subscribers[table]?.count ?? 0 }

    public func tables(of client: ClientIdentity) -> Set<TableID> { clients[client]?.tables ?? [] }

    /// How many subscriptions the clients sending with `key` hold together.
    /// Counted when asked (on a subscribe request), so that it cannot drift
    /// from `clients`.
    public func subscriptionCount(key: String) -> Int {
        clients.reduce(0) { total, entry in entry.key.key == key ? total + entry.value.tables.count : total }
    }

    /// Renews a known client's lease.
    public mutating func renew(_ client: ClientIdentity, until deadline: UInt64) {
        clients[client]?.deadline = deadline
    }

    /// Adds subscriptions. - Returns: the tables that had no subscriber before.
    public mutating func subscribe(_ client: ClientIdentity, to tables: [TableID], until deadline: UInt64) -> [TableID] {
        var opened: [TableID] = []
        var entry = clients[client] ?? Client(deadline: deadline)
        entry.deadline = deadline
        for table in tables where entry.tables.insert(table).inserted {
            if subscribers[table, default: []].isEmpty { opened.append(table) }
            subscribers[table, default: []].insert(client)
        }
        clients[client] = entry
        return opened
    }

    /// Removes subscriptions. - Returns: the tables left without subscribers.
    public mutating func unsubscribe(_ client: ClientIdentity, from tables: [TableID]) -> [TableID] {
        guard var entry = clients[client] else { return [] }
        var closed: [TableID] = []
        for table in tables where entry.tables.remove(table) != nil {
            subscribers[table]?.remove(client)
            if subscribers[table]?.isEmpty ?? false {
                subscribers[table] = nil
                closed.append(table)
            }
        }
        clients[client] = entry.tables.isEmpty ? nil : entry
        return closed
    }

    /// Drops every subscription to the tables matching `condition`, whoever holds it.
    /// - Returns: the tables dropped, each now without subscribers.
    public mutating func drop(where condition: (TableID) -> Bool) -> [TableID] {
        let tables = subscribers.keys.filter(condition).sorted()
        for table in tables {
            for client in subscribers[table] ?? [] { _ = unsubscribe(client, from: [table]) }
        }
        return tables
    }

    /// Drops every client whose lease ended before `now`.
    /// - Returns: the expired clients and the tables left without subscribers.
    public mutating func expire(now: UInt64) -> (clients: [ClientIdentity], closed: [TableID]) {
        let expired = clients.filter { $0.value.deadline < now }.keys.sorted()
        var closed: [TableID] = []
        for client in expired {
            closed += unsubscribe(client, from: Array(clients[client]!.tables))
        }
        return (expired, closed)
    }

    /// The earliest lease end, if any client subscribes.
    public var nextDeadline: UInt64? { clients.values.map(\.deadline).min() }
}

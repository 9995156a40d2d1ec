import GRDB
import Synchronization

/// Group commit: the store's write transactions that arrive together share one SQLite
/// transaction, and so one fsync of the WAL (`synchronous = FULL`).
///
/// Each write still behaves as a transaction of its own:
/// - it runs in a savepoint, so a write that throws is rolled back alone and the others of its
///   batch commit;
/// - its caller resumes only once the commit that holds it has returned (is durable), and a
///   commit that fails fails every write it held;
/// - writes run in the order they were submitted, on GRDB's writer queue (never on Swift's
///   cooperative pool).
///
/// While one batch commits, the next one gathers: a burst of launches (four commits each) no
/// longer queues behind one fsync per write. A lone write is one transaction, as before.
///
/// When a write's error ends the whole transaction (SQLite rolls back by itself on some errors,
/// such as `SQLITE_FULL`), the writes applied before it in the batch are lost with it: they, and
/// the writes after it, run again one transaction each, so a failing write never takes another
/// with it.
final class GroupCommit: Sendable {
    /// One submitted write: `apply` runs it and returns what resumes its caller (called only
    /// after the commit); `fail` resumes its caller with an error.
    private struct Write: Sendable {
        let apply: @Sendable (Database) throws -> @Sendable () -> Void
        let fail: @Sendable (any Error) -> Void
    }

    private struct Queue {
        var pending: [Write] = []
        /// Whether a drain is scheduled or running on the writer queue.
        var draining = false
    }

    /// Thrown out of a batch's transaction when SQLite already rolled it back.
    private struct TransactionAborted: Error {}

    private let writer: DatabasePool
    private let accesses: AccessGate
    private let maximumBatch: Int
    private let queue = Mutex(Queue())

    init(writer: DatabasePool, accesses: AccessGate, maximumBatch: Int = 64) {
        self.writer = writer
        self.accesses = accesses
        self.maximumBatch = max(1, maximumBatch)
    }

    /// Writes submitted and not yet taken into a batch.
    var pendingCount: Int { queue.withLock { $0.pending.count } }

    /// Runs `body` as one write and returns its result once it is committed.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let write = Write(
                apply: { db in
                    let value = try body(db)
                    return { continuation.resume(returning: value) }
                },
                fail: { continuation.resume(throwing: $0) })
            let startDrain = queue.withLock { queue in
                queue.pending.append(write)
                defer { queue.draining = true }
                return !queue.draining
            }
            if startDrain {
                writer.asyncWriteWithoutTransaction { db in self.drain(db) }
            }
        }
    }

    /// Commits batches until nothing is pending. Runs on the writer queue.
    private func drain(_ db: Database) {
        // Once the store is closing, the connection may be closed: what is pending fails.
        guard accesses.enter() else {
            let pending = queue.withLock { queue in
                queue.draining = false
                defer { queue.pending.removeAll() }
                return queue.pending
            }
            for write in pending { write.fail(AccessGate.Closed()) }
            return
        }
        defer { accesses.leave() }
        while true {
            let batch: [Write] = queue.withLock { queue in
                let count = min(maximumBatch, queue.pending.count)
                if count == 0 { queue.draining = false }
                defer { queue.pending.removeFirst(count) }
                return Array(queue.pending.prefix(count))
            }
            if batch.isEmpty { return }
            if batch.count == 1 {
                commitAlone(batch[0], db)
            } else {
                commit(batch, db)
            }
        }
    }

    private func commit(_ batch: [Write], _ db: Database) {
        enum Outcome {
            case applied(@Sendable () -> Void)
            case failed(any Error)
        }
        var outcomes: [Outcome] = []
        do {
            try db.cachedTransaction {
                for write in batch {
                    do {
                        var resume: @Sendable () -> Void = {}
                        try db.cachedSavepoint { resume = try write.apply(db) }
                        outcomes.append(.applied(resume))
                    } catch {
                        outcomes.append(.failed(error))
                        if !db.isInsideTransaction { throw TransactionAborted() }
                    }
                }
            }
        } catch {
            if error is TransactionAborted {
                // The write that ended the transaction gets its own error; every other one of
                // the batch runs again alone.
                for (index, write) in batch.enumerated() {
                    if index == outcomes.count - 1, case .failed(let cause) = outcomes[index] {
                        write.fail(cause)
                    } else {
                        commitAlone(write, db)
                    }
                }
            } else {
                // BEGIN or COMMIT failed: nothing of the batch is in the database.
                for (index, write) in batch.enumerated() {
                    if index < outcomes.count, case .failed(let cause) = outcomes[index] {
                        write.fail(cause)
                    } else {
                        write.fail(error)
                    }
                }
            }
            return
        }
        for (write, outcome) in zip(batch, outcomes) {
            switch outcome {
            case .applied(let resume): resume()
            case .failed(let error): write.fail(error)
            }
        }
    }

    private func commitAlone(_ write: Write, _ db: Database) {
        do {
            var resume: @Sendable () -> Void = {}
            try db.cachedTransaction { resume = try write.apply(db) }
            resume()
        } catch {
            write.fail(error)
        }
    }
}

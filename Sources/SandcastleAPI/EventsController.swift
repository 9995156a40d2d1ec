import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import SessionStore
import Sessions
import Synchronization

/// `GET /v1/events`: the store's event log as Server-Sent Events, resumable with `Last-Event-ID`
/// (or `?since=`), with heartbeat comments while nothing happens.
struct EventsController {
    let dependencies: APIDependencies

    func addRoutes(to group: RouterGroup<SandcastleRequestContext>) {
        group.get("events", use: events)
    }

    @Sendable func events(request: Request, context: SandcastleRequestContext) async throws -> Response {
        try context.require(.sessionView)
        let resumeText = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.uri.queryParameters["since"].map(String.init)
        let followText = request.uri.queryParameters["follow"].map(String.init)
        guard followText == nil || followText == "true" || followText == "false" else {
            throw APIError.invalid("follow must be true or false")
        }
        let resumeAfter: Int64
        if let resumeText {
            guard let value = Int64(resumeText.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                throw APIError.invalid("Last-Event-ID (or since) must be an event id: a non-negative integer")
            }
            resumeAfter = value
        } else if followText == "false" {
            // A one-off read starts at the beginning of the log.
            resumeAfter = 0
        } else {
            // A new subscriber starts at the present.
            resumeAfter = try await dependencies.manager.events.latestEventID()
        }
        let sessionFilter = request.uri.queryParameters["session"].map(String.init)
        let feed = dependencies.manager.events
        if followText == "false" {
            // `?follow=false`: what the log holds now, then the stream ends.
            let end = try await feed.latestEventID()
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"],
                body: ResponseBody { writer in
                    var after = resumeAfter
                    while after < end {
                        let batch = try await feed.events(after: after, limit: 500)
                        guard let last = batch.last else { break }
                        var buffer = ByteBuffer()
                        for event in batch where event.id <= end {
                            if let sessionFilter, event.sessionID != sessionFilter { continue }
                            buffer.writeString(Self.format(event))
                        }
                        if buffer.readableBytes > 0 { try await writer.write(buffer) }
                        after = last.id
                    }
                    try await writer.finish(nil)
                })
        }
        let heartbeat = dependencies.settings.heartbeatInterval
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            // The stream has no end of its own: it ends when the daemon shuts down gracefully, so
            // that a follower never holds the daemon up.
            let shutdown = ShutdownSignal()
            try await withGracefulShutdownHandler {
                var after = resumeAfter
                while !Task.isCancelled {
                    let next: [Event]?
                    do {
                        next = try await Self.nextBatch(feed: feed, after: after, timeout: heartbeat, shutdown: shutdown)
                    } catch is CancellationError {
                        break
                    }
                    guard let batch = next else {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        continue
                    }
                    var buffer = ByteBuffer()
                    for event in batch {
                        after = event.id
                        if let sessionFilter, event.sessionID != sessionFilter { continue }
                        buffer.writeString(Self.format(event))
                    }
                    if buffer.readableBytes > 0 { try await writer.write(buffer) }
                }
            } onGracefulShutdown: {
                shutdown.fire()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"],
            body: body)
    }

    /// Events after `after`, or nil when none came within `timeout`.
    static func nextBatch(feed: EventLogReader, after: Int64, timeout: Duration, shutdown: ShutdownSignal) async throws
        -> [Event]?
    {
        try await withThrowingTaskGroup(of: [Event]?.self) { group in
            group.addTask { try await feed.next(after: after) }
            group.addTask {
                await shutdown.wait()
                throw CancellationError()
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// One SSE message: `id`, `event` (the type) and the event as JSON `data`, the event's own
    /// payload embedded as JSON.
    static func format(_ event: Event) -> String {
        func quoted(_ text: String) -> String {
            (try? responseEncoder.encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
        }
        let time = ISO8601DateFormatter().string(from: event.time)
        let session = event.sessionID.map(quoted) ?? "null"
        let data = #"{"id":\#(event.id),"type":\#(quoted(event.type.rawValue)),"session":\#(session),"time":\#(quoted(time)),"payload":\#(event.payload)}"#
        return "id: \(event.id)\nevent: \(event.type.rawValue)\ndata: \(data)\n\n"
    }
}

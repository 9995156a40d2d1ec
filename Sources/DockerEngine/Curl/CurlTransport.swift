import CCurl
import NIOCore

/// The client's HTTP layer: builds transfers, hands them to the loop and waits for their outcome.
struct CurlTransport: Sendable {
    let endpoint: DockerEndpoint
    let loop: CurlLoop
    let connectTimeout: Duration
    let maxResponseBytes: Int

    struct Request: Sendable {
        var method: String
        var path: String
        var body: [UInt8]? = nil
        var contentType: String? = nil
        var headers: [String] = []
        /// Total time allowed for the whole exchange; nil for none (the caller cancels).
        var timeout: Duration?
    }

    private func makeTransfer(_ request: Request) throws(DockerError) -> CurlTransfer {
        let transfer = try CurlTransfer(endpoint: endpoint, method: request.method, path: request.path)
        transfer.setTimeouts(connect: connectTimeout, total: request.timeout)
        if let body = request.body { transfer.setBody(body) }
        if let contentType = request.contentType { transfer.addHeader("Content-Type: \(contentType)") }
        // libcurl would otherwise send "Expect: 100-continue" for large bodies and wait for it.
        transfer.addHeader("Expect:")
        for header in request.headers { transfer.addHeader(header) }
        return transfer
    }

    /// Sends a request and buffers the whole response, up to `maxResponseBytes`. Error statuses
    /// (>= 400) become ``DockerError``s.
    func send(_ request: Request, limit: Int? = nil) async throws -> CurlResponse {
        let transfer = try makeTransfer(request)
        let response = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CurlResponse, any Error>) in
                transfer.sink = .buffered(limit: limit ?? maxResponseBytes, continuation)
                loop.submit(.add(transfer))
            }
        } onCancel: {
            loop.submit(.cancel(transfer, transfer.error(.cancelled, "the request was cancelled")))
        }
        guard response.status < 400 else {
            throw DockerError.fromResponse(method: request.method, path: request.path, status: response.status, body: response.body)
        }
        return response
    }

    /// Sends a request whose body streams: returns once the response head has arrived (or fails
    /// with the engine's error), then the body arrives chunk by chunk with back-pressure: a reader
    /// that stops reading pauses the transfer, and one that goes away cancels it.
    func stream(_ request: Request, headTimeout: Duration) async throws -> (head: CurlStreamHead, body: ByteChunkSequence) {
        let transfer = try makeTransfer(request)
        transfer.headTimeout = headTimeout
        transfer.headDeadline = .now + headTimeout
        let produced = ByteChunkSequence.makeSequence(
            backPressureStrategy: .init(lowWatermark: 8, highWatermark: 64),
            finishOnDeinit: false,
            delegate: CurlStreamDelegate(transfer: transfer, loop: loop)
        )
        let head = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CurlStreamHead, any Error>) in
                transfer.sink = .streaming(head: continuation, source: produced.source)
                loop.submit(.add(transfer))
            }
        } onCancel: {
            loop.submit(.cancel(transfer, transfer.error(.cancelled, "the request was cancelled")))
        }
        return (head, produced.sequence)
    }

    /// Opens a connection to the engine through libcurl (`CURLOPT_CONNECT_ONLY`) and returns a
    /// duplicate of its socket, which the caller owns.
    func connect(method: String, path: String) async throws -> Int32 {
        let transfer = try CurlTransfer(endpoint: endpoint, method: method, path: path)
        transfer.setLong(CURLOPT_CONNECT_ONLY, 1)
        transfer.setTimeouts(connect: connectTimeout, total: connectTimeout)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
                transfer.sink = .connectOnly(continuation)
                loop.submit(.add(transfer))
            }
        } onCancel: {
            loop.submit(.cancel(transfer, transfer.error(.cancelled, "the connection attempt was cancelled")))
        }
    }
}

import CCurl
import Foundation
import NIOCore
import Synchronization

/// A finished, fully buffered HTTP response.
struct CurlResponse: Sendable {
    var status: Int
    /// Header names lower-cased; the last value wins.
    var headers: [String: String]
    var body: [UInt8]
}

/// The head of a streaming response; its body arrives on `body`.
struct CurlStreamHead: Sendable {
    var status: Int
    var headers: [String: String]
}

typealias ByteChunkSequence = NIOThrowingAsyncSequenceProducer<
    ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, CurlStreamDelegate
>

/// One HTTP exchange with the engine: an easy handle, its callbacks and where its result goes.
///
/// `@unchecked Sendable`: after `CurlLoop.submit(.add)` every field below is read and written only
/// on the loop thread (libcurl calls the callbacks there). The exceptions are `flow`, a mutex, and
/// the continuation and sequence source, which are thread-safe by construction. `complete` runs
/// exactly once, on the loop thread, or on the caller's thread when the loop refused the transfer
/// and so never saw it.
final class CurlTransfer: @unchecked Sendable {
    enum Sink {
        case buffered(limit: Int, CheckedContinuation<CurlResponse, any Error>)
        case streaming(head: CheckedContinuation<CurlStreamHead, any Error>?, source: ByteChunkSequence.Source?)
        case connectOnly(CheckedContinuation<Int32, any Error>)
        case done
    }

    let easy: UnsafeMutableRawPointer
    let method: String
    let path: String
    let endpoint: DockerEndpoint
    var sink: Sink = .done
    var headDeadline: ContinuousClock.Instant?
    var headTimeout: Duration = .zero
    private(set) var headReceived = false

    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    private var status = 0
    private var inFinalHead = false
    private var headers: [String: String] = [:]
    private var body: [UInt8] = []
    private var tooLarge = false
    private var errorBodyLimit = 64 * 1024
    private var result = CURLE_OK

    /// Back-pressure state of a streaming body, shared with the consumer's `produceMore`.
    let flow = Mutex<(demand: Bool, curlPaused: Bool)>((true, false))

    init(endpoint: DockerEndpoint, method: String, path: String) throws(DockerError) {
        CurlGlobal.initialize()
        guard let easy = curl_easy_init() else {
            throw DockerError(code: .transport, method: method, path: path, detail: "curl_easy_init failed")
        }
        self.easy = easy
        self.method = method
        self.path = path
        self.endpoint = endpoint
        let me = Unmanaged.passUnretained(self).toOpaque()
        errorBuffer.withUnsafeMutableBufferPointer { _ = sc_curl_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, $0.baseAddress) }
        setLong(CURLOPT_NOSIGNAL, 1)
        // Never let a proxy from the environment sit between us and the engine.
        setString(CURLOPT_NOPROXY, "*")
        setString(CURLOPT_PROXY, "")
        if case .unix(let socketPath) = endpoint {
            setString(CURLOPT_UNIX_SOCKET_PATH, socketPath)
        }
        setString(CURLOPT_URL, endpoint.baseURL + path)
        _ = sc_curl_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
        _ = sc_curl_easy_setopt_write_function(easy, CURLOPT_WRITEFUNCTION, curlWriteCallback)
        _ = sc_curl_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me)
        _ = sc_curl_easy_setopt_write_function(easy, CURLOPT_HEADERFUNCTION, curlHeaderCallback)
        switch method {
        case "GET": break
        case "HEAD": setLong(CURLOPT_NOBODY, 1)
        case "POST": setLong(CURLOPT_POST, 1); setBody([])
        default: setString(CURLOPT_CUSTOMREQUEST, method)
        }
    }

    deinit {
        curl_easy_cleanup(easy)
        if let headerList { curl_slist_free_all(headerList) }
    }

    // MARK: Configuration (caller thread, before submission)

    func setLong(_ option: CURLoption, _ value: Int) {
        _ = sc_curl_easy_setopt_long(easy, option, value)
    }

    /// String options are copied by libcurl (https://curl.se/libcurl/c/curl_easy_setopt.html).
    func setString(_ option: CURLoption, _ value: String) {
        _ = value.withCString { sc_curl_easy_setopt_ptr(easy, option, $0) }
    }

    /// The request body; `CURLOPT_COPYPOSTFIELDS` makes libcurl keep its own copy.
    func setBody(_ bytes: [UInt8]) {
        _ = sc_curl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bytes.count))
        bytes.withUnsafeBytes { raw in
            // A zero-length body still needs a valid pointer.
            let pointer = raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)
            _ = sc_curl_easy_setopt_ptr(easy, CURLOPT_COPYPOSTFIELDS, pointer)
        }
    }

    func addHeader(_ line: String) {
        headerList = curl_slist_append(headerList, line)
        _ = sc_curl_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, headerList)
    }

    func setTimeouts(connect: Duration, total: Duration?) {
        setLong(CURLOPT_CONNECTTIMEOUT_MS, Int(connect.milliseconds))
        if let total {
            setLong(CURLOPT_TIMEOUT_MS, Int(max(total.milliseconds, 1)))
        }
    }

    // MARK: Callbacks (loop thread)

    fileprivate func receiveHeader(_ line: UnsafeRawBufferPointer) {
        if HTTPHead.isStatusLine(line) {
            status = HTTPHead.statusCode(line) ?? 0
            inFinalHead = status >= 200
            headers = [:]
        } else if let field = HTTPHead.field(line) {
            headers[field.name] = field.value
        } else if HTTPHead.isBlankLine(line), inFinalHead {
            headDone()
        }
    }

    private func headDone() {
        guard !headReceived else { return }
        headReceived = true
        if case .streaming(let head?, let source) = sink, status < 400 {
            sink = .streaming(head: nil, source: source)
            head.resume(returning: CurlStreamHead(status: status, headers: headers))
        }
    }

    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Int {
        switch sink {
        case .buffered(let limit, _):
            if body.count + bytes.count > limit {
                tooLarge = true
                return 0
            }
            body.append(contentsOf: bytes)
            return bytes.count
        case .streaming(_, let source):
            if status >= 400 {
                // An error answer: keep the start of its body for the error message.
                if body.count < errorBodyLimit { body.append(contentsOf: bytes.prefix(errorBodyLimit - body.count)) }
                return bytes.count
            }
            guard let source else { return bytes.count }
            return flow.withLock { state -> Int in
                if !state.demand {
                    state.curlPaused = true
                    return sc_curl_writefunc_pause()
                }
                if case .stopProducing = source.yield(ByteBuffer(bytes: bytes)) {
                    state.demand = false
                }
                return bytes.count
            }
        case .connectOnly, .done:
            return bytes.count
        }
    }

    // MARK: Completion (loop thread)

    func finished(result: CURLcode) {
        self.result = result
        var code = 0
        _ = sc_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code)
        if status == 0 { status = code }
    }

    /// Resolves whoever waits on this transfer. `error` overrides the transfer's own outcome
    /// (cancellation, timeout, shutdown).
    func complete(error override: DockerError?) {
        let sink = self.sink
        self.sink = .done
        let outcome = override ?? outcomeError()
        switch sink {
        case .buffered(_, let continuation):
            if let outcome {
                continuation.resume(throwing: outcome)
            } else {
                continuation.resume(returning: CurlResponse(status: status, headers: headers, body: body))
            }
        case .streaming(let head, let source):
            if let head {
                if let outcome {
                    head.resume(throwing: outcome)
                } else if status >= 400 {
                    head.resume(throwing: DockerError.fromResponse(method: method, path: path, status: status, body: body))
                } else {
                    // A head that never ended with a blank line; treat the end as the head.
                    head.resume(returning: CurlStreamHead(status: status, headers: headers))
                }
            }
            if let outcome { source?.finish(outcome) } else { source?.finish() }
        case .connectOnly(let continuation):
            if let outcome {
                continuation.resume(throwing: outcome)
            } else {
                var socket: curl_socket_t = -1
                _ = sc_curl_easy_getinfo_socket(easy, CURLINFO_ACTIVESOCKET, &socket)
                let duplicate = socket >= 0 ? fcntl(socket, F_DUPFD_CLOEXEC, 0) : -1
                if duplicate < 0 {
                    continuation.resume(throwing: error(.transport, "could not take over the engine connection: \(String(cString: strerror(errno)))"))
                } else {
                    continuation.resume(returning: duplicate)
                }
            }
        case .done:
            break
        }
    }

    private func outcomeError() -> DockerError? {
        if tooLarge {
            return error(.responseTooLarge, "the engine's response exceeded the limit of the client")
        }
        if result == CURLE_OK { return nil }
        let detailBytes = errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let curlMessage =
            detailBytes.isEmpty ? String(cString: curl_easy_strerror(result)) : String(decoding: detailBytes, as: UTF8.self)
        switch result {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST:
            switch endpoint {
            case .unix(let socketPath):
                var osErrno = 0
                _ = sc_curl_easy_getinfo_long(easy, CURLINFO_OS_ERRNO, &osErrno)
                let diagnosis = SocketDiagnosis.explain(socketPath: socketPath, connectErrno: Int32(osErrno))
                return DockerError(
                    code: .engineUnreachable, method: method, path: path,
                    detail: diagnosis.detail, hint: diagnosis.hint)
            case .tcp:
                return DockerError(
                    code: .engineUnreachable, method: method, path: path,
                    detail: "cannot connect to the engine at \(endpoint): \(curlMessage)",
                    hint: "Check that dockerd listens there, or point DOCKER_HOST at its socket")
            }
        case CURLE_OPERATION_TIMEDOUT:
            return error(.timeout, "timed out: \(curlMessage)")
        case CURLE_WEIRD_SERVER_REPLY, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_RECV_ERROR,
            CURLE_BAD_CONTENT_ENCODING, CURLE_UNSUPPORTED_PROTOCOL:
            let what = result == CURLE_PARTIAL_FILE ? "the engine closed the connection in the middle of the body" : "the engine's answer is not valid HTTP"
            return DockerError(
                code: .protocolViolation, method: method, path: path, status: status == 0 ? nil : status,
                detail: "\(what): \(curlMessage)", body: body.isEmpty ? nil : DockerError.excerpt(body))
        default:
            return error(.transport, "libcurl error \(result.rawValue): \(curlMessage)")
        }
    }

    func error(_ code: DockerError.Code, _ detail: String) -> DockerError {
        DockerError(code: code, method: method, path: path, status: status == 0 ? nil : status, detail: detail)
    }

    var headTimeoutDescription: String {
        "\(headTimeout.milliseconds) ms"
    }
}

/// Connects a streaming body's consumer to its transfer: more demand resumes a paused transfer,
/// and a consumer that goes away cancels it.
struct CurlStreamDelegate: NIOAsyncSequenceProducerDelegate {
    let transfer: CurlTransfer
    let loop: CurlLoop

    func produceMore() {
        let resume = transfer.flow.withLock { state -> Bool in
            state.demand = true
            defer { state.curlPaused = false }
            return state.curlPaused
        }
        if resume { loop.submit(.resume(transfer)) }
    }

    func didTerminate() {
        loop.submit(.cancel(transfer, transfer.error(.cancelled, "the stream's reader went away")))
    }
}

private func curlWriteCallback(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
}

private func curlHeaderCallback(
    _ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    transfer.receiveHeader(UnsafeRawBufferPointer(start: data, count: size * count))
    return size * count
}

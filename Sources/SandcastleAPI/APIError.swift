import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SandboxPolicy
import SessionStore
import Sessions

/// Every error the API returns: `{"error":{"code":"...","message":"..."}}` with the right status.
/// Codes are stable; clients switch on them, never on the message.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// Extra headers, such as `Retry-After` on 429.
    public var headers: HTTPFields = [:]
    /// For `invalid_request`: every problem found, each with its field.
    public var problems: [Problem]?

    public struct Problem: Codable, Sendable, Equatable {
        public var field: String
        public var value: String?
        public var message: String
    }

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, problems: [Problem]? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.problems = problems
    }

    /// The JSON body.
    struct Body: Codable {
        struct Detail: Codable {
            var code: String
            var message: String
            var problems: [Problem]?
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(Body(error: .init(code: code, message: message, problems: problems)))
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func notFound(_ what: String) -> APIError { APIError(.notFound, "not_found", what) }
    static func invalid(_ message: String, problems: [Problem]? = nil) -> APIError {
        APIError(.badRequest, "invalid_request", message, problems: problems)
    }
    static let unauthenticated = APIError(
        .unauthorized, "unauthenticated", "a valid API key is required: send Authorization: Bearer <key>")
    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, "forbidden", message) }

    /// The API error for whatever a handler threw.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as SessionManagerError:
            switch error.code {
            case .notFound: return .notFound(error.message)
            case .conflict: return APIError(.conflict, "conflict", error.message)
            case .rejected:
                let problems = (error.underlying as? SessionRequestRejected)?.problems.map {
                    Problem(field: $0.field, value: $0.value, message: $0.message)
                }
                return APIError(.unprocessableContent, "policy_violation", error.message, problems: problems)
            case .storageUnavailable: return APIError(.serviceUnavailable, "storage_unavailable", error.message)
            case .engine: return APIError(.badGateway, "engine_error", error.message)
            case .launchFailed: return APIError(.badGateway, "launch_failed", error.message)
            case .shuttingDown: return APIError(.serviceUnavailable, "shutting_down", error.message)
            }
        case let error as SessionRequestRejected:
            return APIError(
                .badRequest, "invalid_request", error.description,
                problems: error.problems.map { Problem(field: $0.field, value: $0.value, message: $0.message) })
        case let error as HTTPError where error.status == .contentTooLarge:
            return APIError(.contentTooLarge, "body_too_large", "the request body is larger than the daemon accepts")
        default:
            return APIError(.internalServerError, "internal", "internal error; the daemon's log has the details")
        }
    }
}

/// Turns every error into an `APIError` body, and never lets one become a bare 500 without a log.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            let apiError = APIError.from(error)
            if apiError.status == .internalServerError {
                context.logger.error("request failed", metadata: ["error": "\(error)"])
            } else if apiError.status.code >= 500 {
                context.logger.warning("request failed", metadata: ["error": "\(error)"])
            }
            if let httpError = error as? HTTPError, apiError.code == "internal" {
                // Hummingbird's own errors (404 route, 405, 413) keep their status.
                return try APIError(httpError.status, Self.code(for: httpError.status), httpError.body ?? httpError.status.reasonPhrase)
                    .response(from: request, context: context)
            }
            return try apiError.response(from: request, context: context)
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 413: "body_too_large"
        case 400: "invalid_request"
        default: "http_\(status.code)"
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird

/// Answers `405 Method Not Allowed`, with `Allow` listing the methods the OpenAPI document declares,
/// for a path the document has under another method: without it the router answers 404, as if the
/// resource did not exist. The document is the list of routes, so the two cannot drift apart.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Each documented path template, split into segments (`{id}` matches any one segment), with
    /// its methods.
    let routes: [(segments: [String], methods: [String])]

    init(document: [UInt8] = OpenAPIDocument.bytes) {
        let object = (try? JSONSerialization.jsonObject(with: Data(document))) as? [String: Any]
        let paths = object?["paths"] as? [String: Any] ?? [:]
        routes = paths.map { path, item in
            let methods = ((item as? [String: Any])?.keys.map { $0.uppercased() } ?? []).filter { $0 != "PARAMETERS" }
            return (segments: path.split(separator: "/").map(String.init), methods: methods.sorted())
        }
    }

    /// The methods declared for `path` (by every template it matches); nil when the document has
    /// no such path.
    func allowed(_ path: String) -> [String]? {
        let segments = path.split(separator: "/").map(String.init)
        let matching = routes.filter { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { template, segment in template.hasPrefix("{") || template == segment }
        }
        return matching.isEmpty ? nil : Array(Set(matching.flatMap(\.methods))).sorted()
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        // The router names the endpoint before it runs a matched route's middleware, so a named
        // one matched path and method: only a request on its way to "not found" is looked up.
        if context.endpointPath == nil, let methods = allowed(request.uri.path),
            !methods.contains(request.method.rawValue)
        {
            var error = APIError(
                .methodNotAllowed, "method_not_allowed",
                "\(request.method.rawValue) is not allowed on \(request.uri.path); allowed: \(methods.joined(separator: ", "))")
            error.headers[.allow] = methods.joined(separator: ", ")
            throw error
        }
        return try await next(request, context)
    }
}

extension OpenAPIDocument {
    /// The document as served: the `ProfileName` schema lists the profiles loaded now as its enum,
    /// so a client (or a generator such as schemathesis) knows which names the server accepts.
    static func served(profiles: [String]) -> [UInt8] {
        let marker = Array(#""ProfileName": {"#.utf8)
        guard let range = bytes.firstRange(of: marker),
            let names = try? JSONSerialization.data(withJSONObject: profiles.sorted())
        else { return bytes }
        var served = bytes
        served.insert(contentsOf: Array(#""enum": "#.utf8) + Array(names) + Array(", ".utf8), at: range.upperBound)
        return served
    }
}

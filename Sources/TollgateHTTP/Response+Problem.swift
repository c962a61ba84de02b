import HTTPTypes
import Hummingbird
import HummingbirdCore
import TollgateCore

extension Response {
    /// An RFC 9457 `application/problem+json` response for `problem`.
    public static func problem(_ problem: Problem, instance: String? = nil) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = Problem.mediaType
        for (name, value) in problem.headers {
            if let field = HTTPField.Name(name) { headers.append(HTTPField(name: field, value: value)) }
        }
        let body = problem.jsonObject(instance: instance).serialized
        return Response(
            status: HTTPResponse.Status(code: problem.status),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }

    /// A JSON response with a fixed body.
    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized))
        )
    }
}

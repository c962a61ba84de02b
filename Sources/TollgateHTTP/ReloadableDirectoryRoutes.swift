import Foundation
import Hummingbird
import TollgateConfig
import TollgateCore

/// Admin listener routes of a directory ops edit live: `GET <path>` (what is in force, from which
/// files, content hash, load time) and `POST <path>/reload` (422 with the diagnostics when the
/// edit is broken; what is in force stays).
struct ReloadableDirectoryRoutes<Content: Sendable> {
    let path: String
    let store: ReloadableDirectory<Content>
    /// The content's own members of the listing.
    let describeContent: @Sendable (Content) -> [(String, JSONValue)]

    func register(on router: Router<EdgeRequestContext>) {
        router.get(RouterPath(path)) { _, _ in
            Response.json(describe(store.snapshot))
        }
        router.post(RouterPath(path + "/reload")) { _, _ in
            switch store.reload(trigger: "admin") {
            case .reloaded, .unchanged:
                return Response.json(.object([("status", .string("ok")), (store.kind, describe(store.snapshot))]))
            case .rejected(let diagnostics):
                return Response.problem(Problem(
                    .unprocessable,
                    detail: "The \(store.kind) edit was not applied; what is in force stays.",
                    extensions: ["diagnostics": .array(diagnostics.split(separator: "\n").map { .string(String($0)) })]
                ))
            }
        }
    }

    func describe(_ snapshot: ReloadableDirectory<Content>.Snapshot) -> JSONValue {
        .object([
            ("directory", .string(store.directory)),
            ("files", .array(snapshot.files.map(JSONValue.string))),
            ("content_hash", .string(snapshot.contentHash)),
            ("loaded_at", .string(ISO8601DateFormatter().string(from: snapshot.loadedAt))),
        ] + describeContent(snapshot.content))
    }
}

import Foundation

/// A Pub/Sub push body: `{"message": {"data": base64, "messageId", "publishTime", "attributes"},
/// "subscription"}`, with its data decoded as the JSON object Google Play puts there.
public struct GooglePlayPush {
    /// Pub/Sub messages are at most 10 MB; Play's notifications are a few hundred bytes.
    public static let maximumBodyBytes = 64 * 1024

    public let messageID: String?
    public let publishTime: String?
    /// The DeveloperNotification, or nil when `data` is not base64 of a JSON object.
    public let notification: [String: Any]?

    public init?(body: [UInt8]) {
        guard body.count <= Self.maximumBodyBytes,
              let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
              let message = object["message"] as? [String: Any] else { return nil }
        // Pub/Sub sends both spellings of the id; they are the same value.
        messageID = (message["messageId"] ?? message["message_id"]) as? String
        publishTime = (message["publishTime"] ?? message["publish_time"]) as? String
        notification = (message["data"] as? String).flatMap(Base64.decode)
            .flatMap { (try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] }
    }
}

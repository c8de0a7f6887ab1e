import Foundation
import Testing

@testable import KeyAdmin

/// The one JSON writer: what it writes is JSON, and reads back as what was written.
@Suite struct JSONWriterTests {
    /// The text `write` produces, through a held output that is read back from a pipe.
    func written(_ write: (JSONWriter) -> Void) throws -> String {
        let pipe = Pipe()
        let output = BufferedOutput(descriptor: pipe.fileHandleForWriting.fileDescriptor)
        let writer = JSONWriter(output)
        write(writer)
        writer.endDocument()
        output.flush()
        try pipe.fileHandleForWriting.close()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    @Test func stringsAreEscapedAndReadBackAsTheyWere() throws {
        let awkward = "a \"quoted\" back\\slash, a\nnew line, a\ttab, a \u{07} bell, and é ü 漢字 🔑"
        let text = try written { writer in
            writer.value(.object([JSONMember("text", .string(awkward)), JSONMember("key \"2\"", .null)]))
        }
        #expect(
            text
                == "{\"text\":\"a \\\"quoted\\\" back\\\\slash, a\\nnew line, a\\ttab, a \\u0007 bell, and é ü 漢字 🔑\",\"key \\\"2\\\"\":null}\n"
        )
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(parsed["text"] as? String == awkward)
        #expect(parsed["key \"2\""] is NSNull)
    }

    @Test func streamedMembersGetTheirCommas() throws {
        let text = try written { writer in
            writer.beginObject()
            writer.members([JSONMember("database", .string("h:5432/db"))])
            writer.name("items")
            writer.beginArray()
            for number in 1...3 {
                writer.beginObject()
                writer.member("number", number: number)
                writer.member("label", number == 2 ? nil : "n\(number)")
                writer.member("ok", flag: number != 3)
                writer.endObject()
            }
            writer.endArray()
            writer.member(
                JSONMember("nested", .array([.number(1), .array([]), .object([]), .fromDatabase("{\"a\": 1}")])))
            writer.endObject()
        }
        #expect(
            text
                == "{\"database\":\"h:5432/db\",\"items\":[{\"number\":1,\"label\":\"n1\",\"ok\":true},{\"number\":2,\"label\":null,\"ok\":true},{\"number\":3,\"label\":\"n3\",\"ok\":false}],\"nested\":[1,[],{},{\"a\": 1}]}\n"
        )
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
    }
}

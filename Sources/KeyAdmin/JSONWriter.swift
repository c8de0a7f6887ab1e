/// A JSON value small enough to build whole: a command's result fields.
enum JSONValue {
    case string(String)
    case number(Int)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([JSONMember])
    /// JSON text that PostgreSQL wrote (a jsonb column as text), passed on as it is.
    case fromDatabase(String)

    /// A string, or null.
    static func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
}

/// One member of a JSON object: its name and value, in the order written.
struct JSONMember {
    let name: String
    let value: JSONValue

    init(_ name: String, _ value: JSONValue) {
        self.name = name
        self.value = value
    }
}

/// The one writer of JSON text in the tool: every `--json` document goes through it, whole
/// values and streamed listings alike, so escaping and commas are written in one place. It
/// writes bytes straight into the output's buffer: a listing of 100,000 keys is 1.5 million
/// members, and building a `String` for each would cost more than the query.
final class JSONWriter {
    private let output: BufferedOutput
    /// Per open array or object: whether it has an element yet (the next one needs a comma).
    private var hasElement: [Bool] = []
    /// A member's name was just written: its value takes no comma.
    private var afterName = false

    init(_ output: BufferedOutput) { self.output = output }

    func beginObject() {
        separate()
        output.appendUnchecked(UInt8(ascii: "{"))
        hasElement.append(false)
    }

    func endObject() {
        hasElement.removeLast()
        output.appendUnchecked(UInt8(ascii: "}"))
        output.flushIfFull()
    }

    func beginArray() {
        separate()
        output.appendUnchecked(UInt8(ascii: "["))
        hasElement.append(false)
    }

    func endArray() {
        hasElement.removeLast()
        output.appendUnchecked(UInt8(ascii: "]"))
        output.flushIfFull()
    }

    /// The name of the next member of the open object.
    func name(_ name: String) {
        separate()
        writeString(name)
        output.appendUnchecked(UInt8(ascii: ":"))
        afterName = true
    }

    func member(_ member: JSONMember) {
        name(member.name)
        value(member.value)
    }

    func members(_ members: [JSONMember]) {
        for member in members { self.member(member) }
    }

    /// A member whose value is a string, or null.
    func member(_ name: String, _ text: String?) {
        self.name(name)
        separate()
        if let text { writeString(text) } else { output.appendUnchecked("null".utf8) }
    }

    /// A member whose value is a number, or null.
    func member(_ name: String, number: Int?) {
        self.name(name)
        separate()
        output.appendUnchecked((number.map(String.init) ?? "null").utf8)
    }

    /// A member whose value is true or false.
    func member(_ name: String, flag: Bool) {
        self.name(name)
        separate()
        output.appendUnchecked((flag ? "true" : "false").utf8)
    }

    func value(_ value: JSONValue) {
        switch value {
        case .string(let text):
            separate()
            writeString(text)
        case .number(let number):
            separate()
            output.appendUnchecked(String(number).utf8)
        case .bool(let flag):
            separate()
            output.appendUnchecked((flag ? "true" : "false").utf8)
        case .null:
            separate()
            output.appendUnchecked("null".utf8)
        case .array(let values):
            beginArray()
            for element in values { self.value(element) }
            endArray()
        case .object(let members):
            beginObject()
            self.members(members)
            endObject()
        case .fromDatabase(let text):
            separate()
            output.appendUnchecked(text.utf8)
        }
        output.flushIfFull()
    }

    /// Ends the document's line.
    func endDocument() { output.write(byte: 0x0A) }

    private func separate() {
        if afterName {
            afterName = false
            return
        }
        guard let last = hasElement.indices.last else { return }
        if hasElement[last] { output.appendUnchecked(UInt8(ascii: ",")) }
        hasElement[last] = true
    }

    /// A JSON string: quotes, backslashes and control characters escaped; the rest, UTF-8 as it is.
    private func writeString(_ text: String) {
        output.appendUnchecked(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for index in bytes.indices {
                let byte = bytes[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                output.appendUnchecked(UnsafeBufferPointer(rebasing: bytes[start..<index]))
                start = index + 1
                switch byte {
                case UInt8(ascii: "\""): output.appendUnchecked(#"\""#.utf8)
                case UInt8(ascii: "\\"): output.appendUnchecked(#"\\"#.utf8)
                case 0x0A: output.appendUnchecked(#"\n"#.utf8)
                case 0x0D: output.appendUnchecked(#"\r"#.utf8)
                case 0x09: output.appendUnchecked(#"\t"#.utf8)
                default:
                    let hex = String(byte, radix: 16)
                    output.appendUnchecked(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
                }
            }
            output.appendUnchecked(UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        output.appendUnchecked(UInt8(ascii: "\""))
    }
}

@preconcurrency import CEdit
import Foundation

#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

/// Calls to libedit's variadic functions (`el_set`, `el_get`, `history`), which Swift cannot call.
///
/// They are looked up with `dlsym` and called through fixed-argument C function types. This matches
/// the variadic calling convention on x86-64 (System V) and Linux AArch64, where variadic arguments
/// travel in the same registers as fixed ones; it would not on Apple arm64. Static inline wrappers
/// in `Sources/CEdit/shim.h` would replace this enum.
enum EditLineBridge {
    private typealias SetPointers = @convention(c) (
        OpaquePointer?, Int32, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?, UnsafeRawPointer?) -> Int32
    private typealias SetInteger = @convention(c) (OpaquePointer?, Int32, Int32) -> Int32
    private typealias GetPointer = @convention(c) (OpaquePointer?, Int32, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Int32
    private typealias HistoryString = @convention(c) (OpaquePointer?, UnsafeMutablePointer<HistEvent>, Int32, UnsafePointer<CChar>) -> Int32
    private typealias HistoryInteger = @convention(c) (OpaquePointer?, UnsafeMutablePointer<HistEvent>, Int32, Int32) -> Int32

    /// A function bound to a key with `addFunction`: it gets the editor and the key, and answers one of
    /// libedit's `CC_…` codes (what to redraw, or that the line is done).
    typealias EditorFunction = @convention(c) (OpaquePointer?, Int32) -> UInt8

    private nonisolated(unsafe) static let elSet = symbol("el_set")
    private nonisolated(unsafe) static let elGet = symbol("el_get")
    /// libedit's `history` function, also handed to `el_set(EL_HIST)`.
    nonisolated(unsafe) static let historyFunction = UnsafeRawPointer(symbol("history"))

    private static func symbol(_ name: String) -> UnsafeMutableRawPointer {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), name) else { fatalError("libedit: no symbol \(name)") }
        return symbol
    }

    /// `el_set` with up to four pointer arguments (unused ones are passed as NULL).
    @discardableResult
    static func set(_ editor: OpaquePointer, _ operation: Int32, _ first: UnsafeRawPointer?, _ second: UnsafeRawPointer? = nil,
                    _ third: UnsafeRawPointer? = nil) -> Int32 {
        unsafeBitCast(elSet, to: SetPointers.self)(editor, operation, first, second, third, nil)
    }

    @discardableResult
    static func set(_ editor: OpaquePointer, _ operation: Int32, _ string: String) -> Int32 {
        string.withCString { set(editor, operation, UnsafeRawPointer($0)) }
    }

    @discardableResult
    static func set(_ editor: OpaquePointer, _ operation: Int32, integer: Int32) -> Int32 {
        unsafeBitCast(elSet, to: SetInteger.self)(editor, operation, integer)
    }

    /// `el_set` for the operations that take a NULL-terminated list of strings (`EL_BIND`, `EL_SETTY`),
    /// with up to three strings.
    @discardableResult
    static func set(_ editor: OpaquePointer, _ operation: Int32, strings: [String]) -> Int32 {
        precondition(strings.count <= 3, "el_set: at most three strings")
        let copies = strings.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        let pointers = copies.map { UnsafeRawPointer($0) } + [UnsafeRawPointer?](repeating: nil, count: 4 - copies.count)
        return unsafeBitCast(elSet, to: SetPointers.self)(editor, operation, pointers[0], pointers[1], pointers[2], pointers[3])
    }

    /// Registers `function` under `name` (`EL_ADDFN`) and binds it to `key` (`EL_BIND`, "^I" notation).
    static func addFunction(_ editor: OpaquePointer, name: String, help: String, key: String, _ function: EditorFunction) {
        name.withCString { cName in
            help.withCString { cHelp in
                _ = set(editor, EL_ADDFN, UnsafeRawPointer(cName), UnsafeRawPointer(cHelp), unsafeBitCast(function, to: UnsafeRawPointer.self))
            }
        }
        set(editor, EL_BIND, strings: [key, name])
    }

    /// The pointer stored with `el_set(EL_CLIENTDATA)`.
    static func clientData(_ editor: OpaquePointer?) -> UnsafeMutableRawPointer? {
        var data: UnsafeMutableRawPointer?
        _ = unsafeBitCast(elGet, to: GetPointer.self)(editor, EL_CLIENTDATA, &data)
        return data
    }

    /// The line being edited and the cursor in it, in Unicode scalars (libedit's wide characters).
    static func line(_ editor: OpaquePointer) -> (text: String, cursor: Int) {
        guard let info = el_wline(editor)?.pointee, let buffer = info.buffer else { return ("", 0) }
        let count = info.lastchar - buffer
        let cursor = info.cursor - buffer
        var scalars = String.UnicodeScalarView()
        for index in 0..<max(0, count) {
            scalars.append(Unicode.Scalar(UInt32(bitPattern: Int32(buffer[index]))) ?? "\u{FFFD}")
        }
        return (String(scalars), max(0, min(cursor, count)))
    }

    @discardableResult
    static func history(_ history: OpaquePointer, _ operation: Int32, string: String) -> Int32 {
        var event = HistEvent()
        return string.withCString { unsafeBitCast(historyFunction, to: HistoryString.self)(history, &event, operation, $0) }
    }

    @discardableResult
    static func history(_ history: OpaquePointer, _ operation: Int32, integer: Int32) -> Int32 {
        var event = HistEvent()
        return self.history(history, operation, integer: integer, event: &event)
    }

    /// A `history` call whose result (`num`, `str`) lands in `event`.
    static func history(_ history: OpaquePointer, _ operation: Int32, integer: Int32, event: inout HistEvent) -> Int32 {
        unsafeBitCast(historyFunction, to: HistoryInteger.self)(history, &event, operation, integer)
    }
}

/// A request the optimizer layer cannot carry out: a bad hyperparameter or schedule, or optimizer state
/// that does not fit the parameters it is loaded into. The description says what is wrong in words a
/// user can act on.
public struct OptimizerError: Error, CustomStringConvertible, Equatable {
    /// What is wrong.
    public let description: String

    /// An error with the given message.
    public init(_ description: String) {
        self.description = description
    }
}

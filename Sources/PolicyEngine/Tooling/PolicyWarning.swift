/// The warning codes of `policybus check`. Each is given only when it is
/// certain from the text alone; none of them stops a policy from loading.
public enum PolicyWarning {
    /// An unqualified table that a rule reads but that the policy never
    /// defines (no rule head, no fact): it is always empty.
    public static let undefinedTable = "undefined-table"
    /// A named variable that occurs once in its rule: usually a typo, since
    /// `_` is the way to say "any value".
    public static let singleUseVariable = "single-use-variable"
    /// A rule that can never derive a row: it compares two constants and the
    /// comparison is false (`"a" = "b"`, `2 < 1`).
    public static let ruleNeverFires = "rule-never-fires"
}

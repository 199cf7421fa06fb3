//! How messages name the kind of a JSON or YAML value.

use serde_json::Value;

/// What kind of value a JSON value is, for messages ("a string", "a float", "a list", ...).
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

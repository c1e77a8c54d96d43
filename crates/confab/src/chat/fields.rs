//! Request fields read the way a DRF serializer reads them: a JSON object
//! whose fields are checked one by one, every problem reported under its
//! field name. Shared by the REST API and the sockets, so a message is
//! validated the same way whichever way it came.

use serde_json::{Map, Value};

use crate::error::{Error, FieldErrors};

/// Rules for a text field (DRF `CharField`).
#[derive(Clone, Copy)]
pub struct Text {
    pub required: bool,
    pub max_chars: usize,
    pub allow_blank: bool,
    /// Strip surrounding whitespace (DRF's default; off for passwords and tokens).
    pub trim: bool,
}

impl Text {
    pub fn required(max_chars: usize) -> Self {
        Self {
            required: true,
            max_chars,
            allow_blank: false,
            trim: true,
        }
    }

    pub fn optional(max_chars: usize) -> Self {
        Self {
            required: false,
            max_chars,
            allow_blank: true,
            trim: true,
        }
    }

    /// Kept exactly as sent.
    pub fn untrimmed(self) -> Self {
        Self { trim: false, ..self }
    }

    /// For partial updates: absent is fine, present must still be valid.
    pub fn not_required(self) -> Self {
        Self {
            required: false,
            ..self
        }
    }
}

/// Reads fields of a JSON object, collecting errors per field.
pub struct Fields {
    map: Map<String, Value>,
    errors: FieldErrors,
}

impl Fields {
    pub fn new(map: Map<String, Value>) -> Self {
        Self {
            map,
            errors: FieldErrors::new(),
        }
    }

    fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors.entry(field.to_owned()).or_default().push(message.into());
    }

    /// A present, non-null value; records "required" / "may not be null" otherwise.
    fn value(&mut self, field: &str, required: bool) -> Option<Value> {
        match self.map.remove(field) {
            None if required => {
                self.fail(field, "This field is required.");
                None
            }
            None => None,
            Some(Value::Null) => {
                self.fail(field, "This field may not be null.");
                None
            }
            Some(value) => Some(value),
        }
    }

    /// A string, trimmed, within the rules. Numbers are accepted as text, as DRF does.
    pub fn text(&mut self, field: &str, rule: Text) -> Option<String> {
        let raw = match self.value(field, rule.required)? {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            _ => {
                self.fail(field, "Not a valid string.");
                return None;
            }
        };
        if raw.contains('\0') {
            self.fail(field, "Null characters are not allowed.");
            return None;
        }
        let text = if rule.trim { raw.trim().to_owned() } else { raw };
        if text.is_empty() && !rule.allow_blank {
            self.fail(field, "This field may not be blank.");
            return None;
        }
        if text.chars().count() > rule.max_chars {
            self.fail(
                field,
                format!("Ensure this field has no more than {} characters.", rule.max_chars),
            );
            return None;
        }
        Some(text)
    }

    /// One of a fixed set of strings, parsed by `parse`.
    pub fn choice<T>(&mut self, field: &str, required: bool, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let value = self.value(field, required)?;
        let parsed = value.as_str().and_then(&parse);
        if parsed.is_none() {
            let shown = match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            self.fail(
                field,
                format!(
                    "\"{}\" is not a valid choice.",
                    shown.chars().take(100).collect::<String>()
                ),
            );
        }
        parsed
    }

    /// An integer (DRF `IntegerField`: numbers or numeric strings).
    pub fn integer(&mut self, field: &str, required: bool) -> Option<i64> {
        let parsed = match self.value(field, required)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) if s.len() <= 100 => s.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.fail(field, "A valid integer is required.");
        }
        parsed
    }

    /// A text field that may be absent or null (both read as `None`).
    pub fn nullable_text(&mut self, field: &str, rule: Text) -> Option<String> {
        if self.map.get(field).is_some_and(Value::is_null) {
            self.map.remove(field);
            return None;
        }
        self.text(
            field,
            Text {
                required: false,
                ..rule
            },
        )
    }

    /// An integer field that may be absent or null (both read as `None`).
    pub fn nullable_integer(&mut self, field: &str) -> Option<i64> {
        if self.map.get(field).is_some_and(Value::is_null) {
            self.map.remove(field);
            return None;
        }
        self.integer(field, false)
    }

    /// A list of primary keys (DRF `PrimaryKeyRelatedField(many=True)`), at
    /// most `max` of them, each once; absent or null reads as empty.
    pub fn id_list(&mut self, field: &str, max: usize) -> Vec<i64> {
        let Some(value) = self.map.remove(field) else {
            return Vec::new();
        };
        let items = match value {
            Value::Null => return Vec::new(),
            Value::Array(items) => items,
            other => {
                let kind = match other {
                    Value::String(_) => "str",
                    Value::Bool(_) => "bool",
                    Value::Number(_) => "int",
                    _ => "dict",
                };
                self.fail(field, format!("Expected a list of items but got type \"{kind}\"."));
                return Vec::new();
            }
        };
        if items.len() > max {
            self.fail(field, format!("Ensure this field has no more than {max} elements."));
            return Vec::new();
        }
        let mut ids = Vec::with_capacity(items.len());
        for item in items {
            match item.as_i64() {
                Some(id) if !ids.contains(&id) => ids.push(id),
                Some(id) => {
                    self.fail(field, format!("\"{id}\" is listed twice."));
                    return Vec::new();
                }
                None => {
                    self.fail(field, "Incorrect type. Expected pk value.");
                    return Vec::new();
                }
            }
        }
        ids
    }

    /// Whether a field was sent at all (before it is read).
    pub fn has(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    /// Ends reading: every collected problem, or nothing. Unknown fields are ignored.
    pub fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        let Value::Object(map) = value else {
            panic!("object expected")
        };
        Fields::new(map)
    }

    #[test]
    fn text_rules() {
        let mut f = fields(
            json!({"a": "  hi  ", "b": "", "c": {"x": 1}, "d": "x".repeat(11), "e": "a\u{0}b", "g": null, "n": 5}),
        );
        assert_eq!(f.text("a", Text::required(10)).as_deref(), Some("hi"));
        assert_eq!(f.text("b", Text::required(10)), None);
        assert_eq!(f.text("c", Text::required(10)), None);
        assert_eq!(f.text("d", Text::required(10)), None);
        assert_eq!(f.text("e", Text::required(10)), None);
        assert_eq!(f.text("g", Text::required(10)), None);
        assert_eq!(f.text("n", Text::required(10)).as_deref(), Some("5"));
        assert_eq!(f.text("missing", Text::optional(10)), None);
        assert_eq!(f.text("required", Text::required(10)), None);
        let Err(Error::Invalid(errors)) = f.finish() else {
            panic!("errors expected")
        };
        assert_eq!(errors["b"], vec!["This field may not be blank."]);
        assert_eq!(errors["c"], vec!["Not a valid string."]);
        assert_eq!(errors["d"], vec!["Ensure this field has no more than 10 characters."]);
        assert_eq!(errors["e"], vec!["Null characters are not allowed."]);
        assert_eq!(errors["g"], vec!["This field may not be null."]);
        assert_eq!(errors["required"], vec!["This field is required."]);
        assert!(!errors.contains_key("missing"));
    }

    #[test]
    fn choices_and_integers() {
        let mut f = fields(json!({"t": "nope", "i": "12", "j": 1.5, "k": "99999999999999999999999"}));
        assert_eq!(f.choice("t", true, |s| (s == "ok").then_some(())), None);
        assert_eq!(f.integer("i", true), Some(12));
        assert_eq!(f.integer("j", true), None);
        assert_eq!(f.integer("k", true), None);
        let Err(Error::Invalid(errors)) = f.finish() else {
            panic!("errors expected")
        };
        assert_eq!(errors["t"], vec!["\"nope\" is not a valid choice."]);
        assert_eq!(errors["j"], vec!["A valid integer is required."]);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    use super::*;

    proptest! {
        /// Whatever a body holds, a text field comes back within its rule
        /// (trimmed, not blank, no NUL, at most `max` characters) or is an
        /// error on that field; it never panics.
        #[test]
        fn text_fields_hold_their_rule(raw in ".{0,300}", max in 1usize..200) {
            let mut map = Map::new();
            map.insert("name".into(), json!(raw));
            let mut fields = Fields::new(map);
            let text = fields.text("name", Text::required(max));
            match (text, fields.finish()) {
                (Some(text), Ok(())) => {
                    prop_assert!(text.chars().count() <= max);
                    prop_assert!(!text.is_empty() && !text.contains('\0'));
                    prop_assert_eq!(text.trim(), text.as_str());
                }
                (None, Err(Error::Invalid(errors))) => prop_assert!(errors.contains_key("name")),
                (text, result) => prop_assert!(false, "{text:?} with {result:?}"),
            }
        }

        /// Integers: any JSON value is an i64 or an error, never a panic or a wrap.
        #[test]
        fn integers_are_exact(value in prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            ".{0,20}".prop_map(Value::from),
        ]) {
            let mut map = Map::new();
            map.insert("id".into(), value.clone());
            let mut fields = Fields::new(map);
            if let Some(id) = fields.integer("id", true) {
                let from_text = value.as_str().and_then(|s| s.trim().parse::<i64>().ok());
                prop_assert!(value.as_i64() == Some(id) || from_text == Some(id));
            } else {
                prop_assert!(fields.finish().is_err());
            }
        }
    }
}

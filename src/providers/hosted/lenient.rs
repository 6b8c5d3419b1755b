//! How the adapters read what a provider sends into their wire types. Servers that copy a
//! provider's API leave fields out, send null, or send a field in another shape than the
//! original; one such field must not lose the whole answer. So every response type is
//! `#[serde(default)]` and reads each of its fields with one of these: a value of another
//! shape reads as the field's default, as if it were absent.

use serde::de::{DeserializeOwned, Deserializer};
use serde::Deserialize;
use serde_json::Value;

/// `v` as `T`, or `T`'s default when `v` has another shape.
pub(super) fn read<T: DeserializeOwned + Default>(v: &Value) -> T {
    // serde reads a struct from an array too, field by field by position; for a provider's
    // JSON an array in place of an object is another shape.
    if v.is_array() {
        return T::default();
    }
    T::deserialize(v).unwrap_or_default()
}

/// Reads a field that holds one value: a string, a number, an object.
pub(super) fn value<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Value::deserialize(d).map(|v| read(&v))
}

/// A field that counts as there whenever it is not null, whatever its shape; a shape other
/// than `T` reads as `T`'s default.
pub(super) fn non_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        v => Some(read(&v)),
    })
}

/// A list field (anything but a list reads as an empty one); an item of another shape reads
/// as `T`'s default and keeps its place, so "the first item" is what the provider sent first.
pub(super) fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    optional_list(d).map(Option::unwrap_or_default)
}

/// A list field whose absence (or anything but a list) means something other than an
/// empty list.
pub(super) fn optional_list<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned + Default,
{
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => Some(items.iter().map(read).collect()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default)]
    struct Sample {
        #[serde(deserialize_with = "value")]
        count: u64,
        #[serde(deserialize_with = "value")]
        name: Option<String>,
        #[serde(deserialize_with = "non_null")]
        error: Option<Inner>,
        #[serde(deserialize_with = "list")]
        items: Vec<Inner>,
        #[serde(deserialize_with = "optional_list")]
        maybe: Option<Vec<Inner>>,
    }

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default)]
    struct Inner {
        #[serde(deserialize_with = "value")]
        text: Option<String>,
    }

    fn inner(text: &str) -> Inner {
        Inner {
            text: Some(text.into()),
        }
    }

    #[test]
    fn fields_of_the_documented_shape_are_read() {
        let v = json!({"count": 3, "name": "n", "error": {"text": "e"},
            "items": [{"text": "a"}], "maybe": []});
        let expected = Sample {
            count: 3,
            name: Some("n".into()),
            error: Some(inner("e")),
            items: vec![inner("a")],
            maybe: Some(vec![]),
        };
        assert_eq!(read::<Sample>(&v), expected);
    }

    #[test]
    fn a_field_of_another_shape_reads_as_absent_and_the_rest_is_still_read() {
        let v = json!({"count": "3", "name": 7, "error": null, "items": {"text": "a"},
            "maybe": "x", "unknown": [1]});
        assert_eq!(read::<Sample>(&v), Sample::default());
        let v = json!({"count": -1, "name": ["n"], "items": [{"text": "a"}]});
        assert_eq!(read::<Sample>(&v).items, vec![inner("a")]);
        assert_eq!(read::<Sample>(&json!({"count": 2.5})).count, 0);
    }

    #[test]
    fn an_array_is_never_read_as_an_object_by_position() {
        assert_eq!(read::<Inner>(&json!(["a"])), Inner::default());
        assert_eq!(read::<Sample>(&json!([3, "n"])), Sample::default());
    }

    #[test]
    fn an_item_of_another_shape_keeps_its_place_in_a_list() {
        let v = json!({"items": [5, ["b"], {"text": "c"}, null]});
        let items = read::<Sample>(&v).items;
        assert_eq!(
            items,
            vec![
                Inner::default(),
                Inner::default(),
                inner("c"),
                Inner::default()
            ]
        );
    }

    #[test]
    fn a_non_null_field_of_any_shape_is_there() {
        assert_eq!(
            read::<Sample>(&json!({"error": "boom"})).error,
            Some(Inner::default())
        );
        assert_eq!(
            read::<Sample>(&json!({"error": false})).error,
            Some(Inner::default())
        );
        assert_eq!(read::<Sample>(&json!({"error": null})).error, None);
    }
}

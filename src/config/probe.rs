//! Schema-free reads of the document, for what the schema-bound read cannot report well: YAML
//! that does not parse, an empty file, a key written twice, and where a setting is written.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use super::error::{self, ConfigError, Location};

/// Refuses text that is not one YAML document, is empty, or repeats a key in some mapping.
///
/// The schema-bound read would catch a repeated key too, but only once the whole mapping has
/// been read, so serde_yaml would place it at the mapping's first line; here the check runs
/// inside the call that reads the second key, which places it at that key.
pub(super) fn check_document(text: &str, origin: &str) -> Result<(), ConfigError> {
    let refused = Cell::new(false);
    let mut track = serde_path_to_error::Track::new();
    let read = Document { refused: &refused }.deserialize(serde_path_to_error::Deserializer::new(
        serde_yaml::Deserializer::from_str(text),
        &mut track,
    ));
    match read {
        Ok(true) => Ok(()),
        Ok(false) => Err(ConfigError::Empty { origin: origin.to_string() }),
        Err(err) if refused.get() => Err(error::invalid(origin, &track.path(), &err)),
        // Any other error is libyaml's (serde_yaml hands it out when the reader gets to it, so
        // it may come mid-document) or about a second document.
        Err(err) => Err(error::syntax(origin, text, &err)),
    }
}

/// Where the value of a top-level key is written. serde_yaml gives positions only with errors,
/// so this reads the document again and fails on purpose inside the call that reads that value.
pub(super) fn locate_top_level_value(text: &str, key: &str) -> Option<Location> {
    let err = FindKey(key).deserialize(serde_yaml::Deserializer::from_str(text)).err()?;
    error::yaml_location(&err)
}

/// `true` for a document with content, `false` for an empty one (or a bare `null`).
struct Document<'a> {
    /// Set when a key is refused here, as opposed to an error from serde_yaml.
    refused: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Document<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Document<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML document")
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        AnyValue { refused: self.refused }.deserialize(deserializer).map(|()| true)
    }
}

/// Any value at all; mappings anywhere in it are checked for repeated keys.
#[derive(Clone, Copy)]
struct AnyValue<'a> {
    refused: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for AnyValue<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyValue<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = Vec::new();
        while let Some(key) = map.next_key_seed(NewKey { earlier: &keys, refused: self.refused })? {
            keys.push(key);
            map.next_value_seed(self)?;
        }
        Ok(())
    }
    /// A `!tagged` value: the schema-bound read decides whether it is welcome.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (IgnoredAny, variant) = data.variant()?;
        variant.newtype_variant_seed(self)
    }
}

/// A mapping key not among the mapping's earlier keys. Keys are compared as written.
struct NewKey<'a> {
    earlier: &'a [String],
    refused: &'a Cell<bool>,
}

impl NewKey<'_> {
    fn check<E: de::Error>(&self, key: String) -> Result<String, E> {
        if self.earlier.contains(&key) {
            self.refused.set(true);
            Err(E::custom(format!("key `{key}` is written twice in this mapping")))
        } else {
            Ok(key)
        }
    }
}

impl<'de> DeserializeSeed<'de> for NewKey<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NewKey<'_> {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a plain key")
    }
    fn visit_bool<E: de::Error>(self, key: bool) -> Result<String, E> {
        self.check(key.to_string())
    }
    fn visit_i64<E: de::Error>(self, key: i64) -> Result<String, E> {
        self.check(key.to_string())
    }
    fn visit_u64<E: de::Error>(self, key: u64) -> Result<String, E> {
        self.check(key.to_string())
    }
    fn visit_f64<E: de::Error>(self, key: f64) -> Result<String, E> {
        self.check(key.to_string())
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        self.check(key.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.check("null".to_string())
    }
}

/// Reads a top-level mapping and fails inside the read of `key`'s value.
struct FindKey<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for FindKey<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FindKey<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == self.0 {
                map.next_value_seed(FailHere)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct FailHere;

impl<'de> DeserializeSeed<'de> for FailHere {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for FailHere {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("anything")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom("found"))
    }
}

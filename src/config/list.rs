//! Lists that must hold at least one item and no two items with the same identity.
//!
//! serde_yaml only knows where a value is while its deserializer call for that value is running:
//! an error raised inside the call is given the value's line and column, an error raised after
//! it returns is given the position of some enclosing value. So the duplicate check runs inside
//! the call that reads the item (the item's mapping, or its scalar), and a duplicate is reported
//! at the duplicate itself rather than at the start of the list.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// How an item is written in the file, so that it can be read inside its own deserializer call.
pub(super) enum Shape {
    /// `- region_id: cn-hangzhou`
    Mapping,
    /// `- full`
    Scalar,
}

/// An item of a [`UniqueList`].
pub(super) trait ListItem {
    /// What one item is called in messages: `instance`, `region`, `task type`.
    const NOUN: &'static str;
    /// What an item looks like, for a message about something else written in its place.
    const EXPECTING: &'static str;
    const SHAPE: Shape;
    /// What must differ between any two items of one list.
    fn identity(&self) -> &str;
}

/// A non-empty list of items with distinct identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct UniqueList<T>(pub Vec<T>);

impl<'de, T: ListItem + Deserialize<'de>> Deserialize<'de> for UniqueList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ListVisitor(PhantomData))
    }
}

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: ListItem + Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = UniqueList<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a list of at least one {}", T::NOUN)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueList<T>, A::Error> {
        let mut items: Vec<T> = Vec::new();
        while let Some(item) = seq.next_element_seed(Unseen { earlier: &items })? {
            items.push(item);
        }
        if items.is_empty() {
            return Err(de::Error::custom(format!("must list at least one {}", T::NOUN)));
        }
        Ok(UniqueList(items))
    }
}

/// Reads one item and refuses it if an earlier item has the same identity.
struct Unseen<'a, T> {
    earlier: &'a [T],
}

impl<T: ListItem> Unseen<'_, T> {
    fn check<E: de::Error>(&self, item: T) -> Result<T, E> {
        match self.earlier.iter().position(|earlier| earlier.identity() == item.identity()) {
            Some(index) => Err(E::custom(format!(
                "{} {:?} is listed twice (first at index {index})",
                T::NOUN,
                item.identity()
            ))),
            None => Ok(item),
        }
    }
}

impl<'de, T: ListItem + Deserialize<'de>> DeserializeSeed<'de> for Unseen<'_, T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        match T::SHAPE {
            Shape::Mapping => deserializer.deserialize_map(self),
            Shape::Scalar => deserializer.deserialize_str(self),
        }
    }
}

impl<'de, T: ListItem + Deserialize<'de>> Visitor<'de> for Unseen<'_, T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        let item = T::deserialize(MapAccessDeserializer::new(map))?;
        self.check(item)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        let item = T::deserialize::<StrDeserializer<'_, E>>(text.into_deserializer())?;
        self.check(item)
    }
}

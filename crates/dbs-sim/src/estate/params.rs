//! Reading the list APIs' request parameters, and the refusals each bad one draws: HTTP 400 with
//! the gateway's error body, as Alibaba's services refuse a malformed parameter.

use std::collections::BTreeMap;

use serde_json::Value;

use super::SimDbInstance;
use crate::gateway::{Call, GatewayError, Reply};

/// The page sizes PolarDB's and MongoDB's list APIs accept; the first is the default.
const FIXED_PAGE_SIZES: [u64; 3] = [30, 50, 100];

/// At most this many `Tag.N` pairs (PolarDB documents N up to 20; MongoDB and `ListTagResources`
/// are held to the same).
const MAX_TAG_PAIRS: u32 = 20;

pub(super) fn bad_request(code: &str, message: impl Into<String>) -> GatewayError {
    GatewayError::new(400, code, message)
}

/// An answer, or the refusal that replaced it.
pub(super) fn reply(result: Result<Value, GatewayError>) -> Reply {
    match result {
        Ok(Value::Object(fields)) => Reply::Answer(fields),
        Ok(_) => unreachable!("every list API answers an object"),
        Err(error) => Reply::Gateway(error),
    }
}

/// A parameter's value; an empty one counts as not given, as the APIs treat it.
pub(super) fn given<'a>(call: &'a Call, name: &str) -> Option<&'a str> {
    call.params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Whether an optional filter lets `actual` through (case-insensitive, as engines are spelled
/// loosely by users).
pub(super) fn admits(filter: Option<&str>, actual: &str) -> bool {
    filter.is_none_or(|wanted| wanted.eq_ignore_ascii_case(actual))
}

/// `RegionId`, which every list API requires.
pub(super) fn region(call: &Call) -> Result<&str, GatewayError> {
    given(call, "RegionId")
        .ok_or_else(|| bad_request("MissingRegionId", "RegionId is mandatory for this action."))
}

fn malformed(name: &str) -> GatewayError {
    bad_request(&format!("Invalid{name}.Malformed"), format!("Specified parameter {name} is not valid."))
}

/// A whole number, when given; anything else is `Invalid<name>.Malformed`.
fn integer(call: &Call, name: &str) -> Result<Option<u64>, GatewayError> {
    given(call, name).map(|raw| raw.parse::<u64>().map_err(|_| malformed(name))).transpose()
}

/// `PageNumber`, from 1 (the default).
pub(super) fn page_number(call: &Call) -> Result<u64, GatewayError> {
    match integer(call, "PageNumber")? {
        None => Ok(1),
        Some(0) => Err(malformed("PageNumber")),
        Some(n) => Ok(n),
    }
}

/// A size parameter that takes 1 to `max`, when given.
pub(super) fn size_up_to(call: &Call, name: &str, max: u64) -> Result<Option<u64>, GatewayError> {
    match integer(call, name)? {
        Some(n) if n == 0 || n > max => Err(malformed(name)),
        size => Ok(size),
    }
}

/// PolarDB's and MongoDB's `PageSize`: 30, 50 or 100 only, 30 by default.
pub(super) fn fixed_page_size(call: &Call) -> Result<u64, GatewayError> {
    match integer(call, "PageSize")? {
        None => Ok(FIXED_PAGE_SIZES[0]),
        Some(n) if FIXED_PAGE_SIZES.contains(&n) => Ok(n),
        Some(_) => Err(bad_request(
            "InvalidPageSize.Malformed",
            "Specified parameter PageSize is not valid: it must be 30, 50 or 100.",
        )),
    }
}

/// Page `number` (from 1) of `size` items; past the end, nothing.
pub(super) fn page<T>(items: Vec<T>, size: u64, number: u64) -> Vec<T> {
    let skip = number.saturating_sub(1).saturating_mul(size);
    items.into_iter().skip(usize::try_from(skip).unwrap_or(usize::MAX)).take(size as usize).collect()
}

/// One tag an instance must carry: the key, and the value unless only the key was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TagFilter {
    pub key: String,
    pub value: Option<String>,
}

impl TagFilter {
    pub fn matches(&self, instance: &SimDbInstance) -> bool {
        instance.has_tag(&self.key, self.value.as_deref())
    }
}

/// Whether `instance` carries every tag of `filters` (true when there is none).
pub(super) fn carries_all(filters: &[TagFilter], instance: &SimDbInstance) -> bool {
    filters.iter().all(|filter| filter.matches(instance))
}

/// The numbered parameters `<prefix>.N` and `<prefix>.N.<field>`, by N; a non-numeric or
/// out-of-range N is refused with `code`.
pub(super) fn numbered<'a>(
    call: &'a Call,
    prefix: &str,
    max: u32,
    code: &str,
) -> Result<BTreeMap<u32, BTreeMap<&'a str, &'a str>>, GatewayError> {
    let mut by_index: BTreeMap<u32, BTreeMap<&str, &str>> = BTreeMap::new();
    for (name, value) in &call.params {
        let Some(rest) = name.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('.')) else {
            continue;
        };
        let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
        let index = index
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad_request(code, format!("{name}: N must be from 1 to {max}.")))?;
        by_index.entry(index).or_default().insert(field, value.trim());
    }
    Ok(by_index)
}

/// `Tag.N.Key` / `Tag.N.Value`, N from 1 to 20. A value without a key is refused; a key
/// without a value matches the key with any value.
pub(super) fn tag_filters(call: &Call) -> Result<Vec<TagFilter>, GatewayError> {
    let mut filters = Vec::new();
    for (index, fields) in numbered(call, "Tag", MAX_TAG_PAIRS, "InvalidTag.Malformed")? {
        let key = fields.get("Key").copied().unwrap_or("");
        let value = fields.get("Value").copied().filter(|v| !v.is_empty());
        if key.is_empty() {
            if value.is_some() {
                return Err(bad_request("InvalidTag.Malformed", format!("Tag.{index}.Key is missing.")));
            }
            continue;
        }
        filters.push(TagFilter { key: key.to_string(), value: value.map(str::to_string) });
    }
    Ok(filters)
}

/// The `Tags` array every PolarDB and MongoDB item carries: `{"Tag": [{"Key", "Value"}]}`.
pub(super) fn tags_json(instance: &SimDbInstance) -> Value {
    let tags: Vec<Value> =
        instance.tags.iter().map(|(key, value)| serde_json::json!({"Key": key, "Value": value})).collect();
    serde_json::json!({ "Tag": tags })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn call(pairs: &[(&str, &str)]) -> Call {
        Call {
            method: "POST".into(),
            path: "/".into(),
            host: "localhost".into(),
            headers: hyper::HeaderMap::new(),
            params: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            now: SystemTime::now(),
        }
    }

    #[test]
    fn page_numbers_start_at_one() {
        assert_eq!(page_number(&call(&[])), Ok(1));
        assert_eq!(page_number(&call(&[("PageNumber", "3")])), Ok(3));
        assert_eq!(
            page_number(&call(&[("PageNumber", "0")])).unwrap_err().code,
            "InvalidPageNumber.Malformed"
        );
        assert!(page_number(&call(&[("PageNumber", "-1")])).is_err());
    }

    #[test]
    fn only_three_page_sizes_are_fixed_sizes() {
        assert_eq!(fixed_page_size(&call(&[])), Ok(30));
        for size in ["30", "50", "100"] {
            assert_eq!(fixed_page_size(&call(&[("PageSize", size)])), Ok(size.parse().unwrap()));
        }
        for size in ["10", "31", "1000", "thirty"] {
            let error = fixed_page_size(&call(&[("PageSize", size)])).unwrap_err();
            assert_eq!((error.status, error.code.as_str()), (400, "InvalidPageSize.Malformed"));
        }
    }

    #[test]
    fn sizes_up_to_a_maximum_refuse_zero_and_more() {
        assert_eq!(size_up_to(&call(&[("MaxResults", "100")]), "MaxResults", 100), Ok(Some(100)));
        assert_eq!(size_up_to(&call(&[]), "MaxResults", 100), Ok(None));
        let error = size_up_to(&call(&[("MaxResults", "101")]), "MaxResults", 100).unwrap_err();
        assert_eq!(error.code, "InvalidMaxResults.Malformed");
        assert!(size_up_to(&call(&[("PageSize", "0")]), "PageSize", 100).is_err());
    }

    #[test]
    fn paging_past_the_end_is_empty() {
        let items: Vec<u32> = (0..7).collect();
        assert_eq!(page(items.clone(), 3, 3), [6]);
        assert!(page(items.clone(), 3, 4).is_empty());
        assert!(page(items, 3, u64::MAX).is_empty());
    }

    #[test]
    fn tag_filters_pair_keys_and_values_by_index() {
        let filters =
            tag_filters(&call(&[("Tag.1.Key", "env"), ("Tag.1.Value", "prod"), ("Tag.2.Key", "team")]))
                .unwrap();
        assert_eq!(
            filters,
            [
                TagFilter { key: "env".into(), value: Some("prod".into()) },
                TagFilter { key: "team".into(), value: None },
            ]
        );
        assert!(tag_filters(&call(&[("Tag.1.Value", "prod")])).is_err());
        assert!(tag_filters(&call(&[("Tag.21.Key", "env")])).is_err());
        assert!(tag_filters(&call(&[("Tag.x.Key", "env")])).is_err());
        assert!(tag_filters(&call(&[("Tags", "{}")])).unwrap().is_empty());
    }
}

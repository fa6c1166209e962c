//! Decoding DescribeDownloadTask answers, tolerantly.
//!
//! The API sends every task field as a string and the paging fields as integers, but Alibaba's
//! own examples and gateways are not consistent, so each scalar is read as "whatever came,
//! as text" and parsed afterwards. No input can make decoding panic; the worst outcome is an
//! [`ApiError::Decode`].

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::error::ApiError;
use super::task::{DownloadState, DownloadTask, ExportFormat, Progress, TargetType, TaskType};

/// One decoded page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub request_id: String,
    pub page_number: u64,
    pub page_size: u64,
    pub total_elements: u64,
    pub total_pages: u64,
    pub tasks: Vec<DownloadTask>,
}

/// A JSON scalar taken as text: strings, numbers and booleans all become `Some(text)`;
/// null, empty strings, arrays and objects become `None`. Strings without escapes are borrowed
/// from the body, so most fields cost no allocation.
#[derive(Default, Debug)]
struct Loose<'a>(Option<Cow<'a, str>>);

impl Loose<'_> {
    fn text(&self) -> Option<&str> {
        self.0.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    fn owned(&self) -> Option<String> {
        self.text().map(str::to_string)
    }

    /// A non-negative integer, accepting `"42"`, `42`, `42.0` and `"42.0"`.
    fn number(&self) -> Option<u64> {
        let text = self.text()?;
        text.parse::<u64>().ok().or_else(|| {
            let float = text.parse::<f64>().ok()?;
            (float.is_finite() && float >= 0.0 && float <= u64::MAX as f64).then_some(float as u64)
        })
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Owned(v))))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Loose<'de>, E> {
        Ok(Loose(Some(Cow::Borrowed(if v { "true" } else { "false" }))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Loose<'de>, E> {
        Ok(Loose(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Loose<'de>, E> {
        Ok(Loose(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Loose<'de>, D::Error> {
        d.deserialize_any(LooseVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose(None))
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    request_id: Loose<'a>,
    #[serde(borrow)]
    success: Loose<'a>,
    #[serde(borrow)]
    code: Loose<'a>,
    #[serde(borrow)]
    message: Loose<'a>,
    #[serde(borrow)]
    err_code: Loose<'a>,
    #[serde(borrow)]
    err_message: Loose<'a>,
    #[serde(borrow)]
    data: Option<RawData<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawData<'a> {
    #[serde(borrow)]
    page_number: Loose<'a>,
    #[serde(borrow)]
    page_size: Loose<'a>,
    #[serde(borrow)]
    total_elements: Loose<'a>,
    #[serde(borrow)]
    total_pages: Loose<'a>,
    #[serde(borrow)]
    content: Option<RawContent<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawContent<'a> {
    #[serde(borrow)]
    list: Option<Vec<RawTask<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawTask<'a> {
    #[serde(borrow)]
    task_id: Loose<'a>,
    #[serde(borrow)]
    region_code: Loose<'a>,
    #[serde(borrow)]
    format: Loose<'a>,
    #[serde(borrow)]
    db_list: Loose<'a>,
    #[serde(borrow)]
    bak_set_id: Loose<'a>,
    #[serde(borrow)]
    download_status: Loose<'a>,
    #[serde(borrow)]
    export_data_size: Loose<'a>,
    #[serde(borrow)]
    import_data_size: Loose<'a>,
    #[serde(borrow)]
    backup_set_time: Loose<'a>,
    #[serde(borrow)]
    gmt_create: Loose<'a>,
    #[serde(borrow)]
    target_type: Loose<'a>,
    #[serde(borrow)]
    target_path: Loose<'a>,
    #[serde(borrow)]
    progress: Loose<'a>,
}

impl RawTask<'_> {
    fn into_task(self, task_type: Option<TaskType>) -> DownloadTask {
        DownloadTask {
            task_id: self.task_id.owned().unwrap_or_default(),
            task_type,
            // A task with no status at all is still a task: count it, under a name that says so.
            state: self
                .download_status
                .text()
                .map_or(DownloadState::Other("unknown".into()), DownloadState::parse),
            region_code: self.region_code.owned(),
            format: self.format.text().map(ExportFormat::parse),
            target_type: self.target_type.text().map(TargetType::parse),
            target_path: self.target_path.owned(),
            db_list: self.db_list.owned(),
            backup_set_id: self.bak_set_id.owned(),
            export_bytes: self.export_data_size.number().unwrap_or(0),
            import_bytes: self.import_data_size.number().unwrap_or(0),
            progress: self.progress.text().and_then(Progress::parse),
            created_at_ms: self.gmt_create.number(),
            backup_set_time_ms: self.backup_set_time.number(),
        }
    }
}

/// The body of a non-2xx answer: `{"RequestId","HostId","Code","Message","Recommend"}`.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct RawErrorBody<'a> {
    #[serde(borrow)]
    request_id: Loose<'a>,
    #[serde(borrow)]
    code: Loose<'a>,
    #[serde(borrow)]
    message: Loose<'a>,
}

const UNKNOWN_REQUEST_ID: &str = "none";

/// Turns one HTTP answer into a page or the error it carries.
/// `task_type` is the `TaskType` filter of the request, the only source of a task's type.
pub fn decode_page(
    status: u16,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
    task_type: Option<TaskType>,
) -> Result<Page, ApiError> {
    if !(200..300).contains(&status) {
        return Err(decode_error_body(status, body, retry_after));
    }
    let envelope: RawEnvelope = serde_json::from_slice(body).map_err(|err| ApiError::Decode {
        status,
        request_id: UNKNOWN_REQUEST_ID.into(),
        detail: describe_undecodable(body, &err),
    })?;
    let request_id = envelope.request_id.owned().unwrap_or_else(|| UNKNOWN_REQUEST_ID.into());
    // HTTP 200 is not success: the API reports some failures in the body. When `Success` is
    // "true" the error fields are noise (the API page's own example fills them on success).
    let success = envelope.success.text().map(|s| s.eq_ignore_ascii_case("true"));
    if success == Some(false) || (success.is_none() && envelope.data.is_none()) {
        let code = envelope.err_code.owned().or_else(|| envelope.code.owned());
        let message = envelope.err_message.owned().or_else(|| envelope.message.owned());
        if success == Some(false) || code.is_some() {
            return Err(ApiError::InBand {
                code: code.unwrap_or_else(|| "Unknown".into()),
                message: message.unwrap_or_default(),
                request_id,
            });
        }
    }
    let Some(data) = envelope.data else {
        return Err(ApiError::Decode { status, request_id, detail: "the answer has no Data object".into() });
    };
    let tasks = data
        .content
        .and_then(|content| content.list)
        .unwrap_or_default()
        .into_iter()
        .map(|raw| raw.into_task(task_type))
        .collect();
    Ok(Page {
        request_id,
        page_number: data.page_number.number().unwrap_or(0),
        page_size: data.page_size.number().unwrap_or(0),
        total_elements: data.total_elements.number().unwrap_or(0),
        total_pages: data.total_pages.number().unwrap_or(0),
        tasks,
    })
}

fn decode_error_body(status: u16, body: &[u8], retry_after: Option<std::time::Duration>) -> ApiError {
    match serde_json::from_slice::<RawErrorBody>(body) {
        Ok(raw) => ApiError::Http {
            status,
            code: raw.code.owned().unwrap_or_default(),
            message: raw.message.owned().unwrap_or_default(),
            request_id: raw.request_id.owned().unwrap_or_else(|| UNKNOWN_REQUEST_ID.into()),
            retry_after,
        },
        // Gateways answer 502/504 with HTML: keep the status, say what the body looked like.
        Err(_) => ApiError::Http {
            status,
            code: String::new(),
            message: format!("non-JSON error body: {}", snippet(body)),
            request_id: UNKNOWN_REQUEST_ID.into(),
            retry_after,
        },
    }
}

fn describe_undecodable(body: &[u8], err: &serde_json::Error) -> String {
    if body.is_empty() {
        "empty body".into()
    } else if err.is_eof() {
        format!("body ends early after {} bytes", body.len())
    } else if body.trim_ascii_start().starts_with(b"<") {
        format!("expected JSON, got XML or HTML ({})", snippet(body))
    } else {
        format!("{err} ({})", snippet(body))
    }
}

/// The start of a body, printable and short, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(80)]);
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests;

//! What goes on the wire: the answers the simulator can give, rendered as the real service
//! renders them (JSON with `Format=json`, XML otherwise, HTML for a failing gateway).

use rand::Rng as _;
use serde_json::{json, Map, Value};

use super::store::Page;
use super::SimTask;

pub(crate) const JSON: &str = "application/json;charset=utf-8";
pub(crate) const XML: &str = "text/xml;charset=utf-8";
pub(crate) const HTML: &str = "text/html";

/// An error the gateway answers with a non-200 status and the
/// `{RequestId, HostId, Code, Message, Recommend}` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GatewayError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// `x-acs-retry-after`, in milliseconds.
    pub retry_after_ms: Option<u64>,
}

impl GatewayError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        GatewayError { status, code: code.to_string(), message: message.into(), retry_after_ms: None }
    }
}

/// Every answer the simulator gives, before rendering.
#[derive(Debug)]
pub(crate) enum Reply {
    Listing(Page),
    Gateway(GatewayError),
    /// HTTP 200 with `Success:"false"`: how DBS itself reports a bad request.
    InBand {
        code: String,
        message: String,
    },
    /// A load balancer's own error page, not the API's.
    GatewayPage(u16),
    /// Plain text, outside the API (wrong path or method).
    Plain(u16, &'static str),
    /// HTTP 200 that claims JSON but is not.
    Malformed,
    /// HTTP 200 whose body stops halfway through a listing.
    Truncated,
}

impl Reply {
    pub fn in_band(code: &str, message: impl Into<String>) -> Self {
        Reply::InBand { code: code.to_string(), message: message.into() }
    }
}

/// A rendered answer, ready for the HTTP layer.
pub(crate) struct Rendered {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// When set, only this many bytes of `body` are sent although `Content-Length` says all.
    pub cut_at: Option<usize>,
}

/// An uppercase UUID-looking id, as the gateway's `RequestId`.
pub(crate) fn request_id() -> String {
    let n: u128 = rand::rng().random();
    let hex = format!("{n:032X}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

fn task_json(task: &SimTask) -> Value {
    json!({
        "TaskId": task.task_id,
        "RegionCode": task.region,
        "Format": task.format,
        "DbList": task.db_list,
        "BakSetId": task.backup_set_id,
        "DownloadStatus": task.state,
        "ExportDataSize": task.export_bytes.to_string(),
        "ImportDataSize": task.import_bytes.to_string(),
        "BackupSetTime": task.backup_set_time_ms.to_string(),
        "GmtCreate": task.created_ms.to_string(),
        "TargetType": task.target_type,
        "TargetPath": task.target_path,
        "Progress": task.progress,
    })
}

fn listing_json(request_id: &str, page: &Page) -> Value {
    json!({
        "RequestId": request_id,
        "Success": "true",
        "Code": "",
        "Message": "",
        "ErrCode": "",
        "ErrMessage": "",
        "Data": {
            "PageNumber": page.number,
            "PageSize": page.size,
            "TotalElements": page.total_elements,
            "TotalPages": page.total_pages,
            "Extra": "",
            "Content": { "List": page.items.iter().map(task_json).collect::<Vec<_>>() },
        },
    })
}

fn in_band_json(request_id: &str, code: &str, message: &str) -> Value {
    json!({
        "RequestId": request_id,
        "Success": "false",
        "Code": code,
        "Message": message,
        "ErrCode": code,
        "ErrMessage": message,
    })
}

fn gateway_json(request_id: &str, host: &str, error: &GatewayError) -> Value {
    json!({
        "RequestId": request_id,
        "HostId": host,
        "Code": error.code,
        "Message": error.message,
        "Recommend": format!(
            "https://api.aliyun.com/troubleshoot?q={}&product=Dbs&requestId={request_id}", error.code
        ),
    })
}

fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Alibaba's XML mirrors the JSON: an object is an element per key, an array repeats its key's
/// element (`Content: {List: [a, b]}` is `<Content><List>a</List><List>b</List></Content>`).
fn xml_element(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| xml_element(out, name, item)),
        Value::Object(fields) => {
            out.push_str(&format!("<{name}>"));
            xml_fields(out, fields);
            out.push_str(&format!("</{name}>"));
        }
        Value::String(text) => out.push_str(&format!("<{name}>{}</{name}>", escape_xml(text))),
        Value::Null => out.push_str(&format!("<{name}/>")),
        other => out.push_str(&format!("<{name}>{other}</{name}>")),
    }
}

fn xml_fields(out: &mut String, fields: &Map<String, Value>) {
    for (key, value) in fields {
        xml_element(out, key, value);
    }
}

fn document(json: bool, root: &str, value: Value) -> (&'static str, Vec<u8>) {
    if json {
        return (JSON, value.to_string().into_bytes());
    }
    let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    xml_element(&mut out, root, &value);
    (XML, out.into_bytes())
}

fn gateway_page(status: u16) -> String {
    let reason = match status {
        502 => "Bad Gateway",
        504 => "Gateway Time-out",
        _ => "Error",
    };
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n\
         <center><h1>{status} {reason}</h1></center>\r\n<hr><center>Tengine</center>\r\n</body>\r\n</html>\r\n"
    )
}

/// Renders `reply`; `json` is whether the request asked for `Format=json`, `host` goes into
/// `HostId`.
pub(crate) fn render(reply: Reply, json: bool, host: &str) -> Rendered {
    let id = request_id();
    let mut headers = vec![("x-acs-request-id", id.clone())];
    let (status, (content_type, body), cut_at) = match reply {
        Reply::Listing(page) => {
            (200, document(json, "DescribeDownloadTaskResponse", listing_json(&id, &page)), None)
        }
        Reply::InBand { code, message } => {
            (200, document(json, "DescribeDownloadTaskResponse", in_band_json(&id, &code, &message)), None)
        }
        Reply::Gateway(error) => {
            if let Some(ms) = error.retry_after_ms {
                headers.push(("x-acs-retry-after", ms.to_string()));
            }
            (error.status, document(json, "Error", gateway_json(&id, host, &error)), None)
        }
        Reply::GatewayPage(status) => (status, (HTML, gateway_page(status).into_bytes()), None),
        Reply::Plain(status, text) => (status, ("text/plain", text.as_bytes().to_vec()), None),
        Reply::Malformed => {
            let body = format!("{{'RequestId': '{id}', 'Success': true, Data: <html>upstream error</html>");
            (200, (JSON, body.into_bytes()), None)
        }
        Reply::Truncated => {
            let page = Page::sample();
            let body = listing_json(&id, &page).to_string().into_bytes();
            let half = body.len() / 2;
            (200, (JSON, body), Some(half))
        }
    };
    Rendered { status, content_type, headers, body, cut_at }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_uppercase_uuids() {
        let id = request_id();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_ne!(id, request_id());
    }

    #[test]
    fn xml_repeats_array_elements_and_escapes_text() {
        let mut out = String::new();
        xml_element(&mut out, "Content", &json!({"List": [{"A": "x<y"}, {"A": "2"}]}));
        assert_eq!(out, "<Content><List><A>x&lt;y</A></List><List><A>2</A></List></Content>");
    }

    #[test]
    fn malformed_body_is_not_json() {
        let rendered = render(Reply::Malformed, true, "h");
        assert!(serde_json::from_slice::<Value>(&rendered.body).is_err());
    }
}

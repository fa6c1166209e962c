//! What goes on the wire: the answers the gateway and its products can give, rendered as the
//! real services render them (JSON with `Format=json`, XML otherwise, HTML for a failing gateway).

use rand::Rng as _;
use serde_json::{json, Map, Value};

pub const JSON: &str = "application/json;charset=utf-8";
pub const XML: &str = "text/xml;charset=utf-8";
pub const HTML: &str = "text/html";

/// An error the gateway answers with a non-200 status and the
/// `{RequestId, HostId, Code, Message, Recommend}` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayError {
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

    /// HTTP 403 `Forbidden.RAM`: the key's RAM policy lacks the action (test builds deny on
    /// request, by DBS instance or by discovery action).
    #[cfg(feature = "testing")]
    pub fn ram_denied() -> Self {
        GatewayError::new(
            403,
            "Forbidden.RAM",
            "User not authorized to operate on the specified resource, or this API doesn't support RAM.",
        )
    }
}

/// Every answer the gateway gives, before rendering.
#[derive(Debug)]
pub enum Reply {
    /// HTTP 200 with an action's answer, to which the gateway adds the `RequestId`.
    Answer(Map<String, Value>),
    Gateway(GatewayError),
    /// HTTP 200 with `Success:"false"`: how some products (DBS) report a bad request.
    InBand {
        code: String,
        message: String,
    },
    /// A load balancer's own error page, not the API's.
    GatewayPage(u16),
    /// Plain text, outside the RPC API (a wrong path or method; the metadata service).
    Text(u16, String),
    /// HTTP 200 with a JSON document as it is, outside the RPC API (the metadata service).
    Json(Value),
    /// HTTP 200 that claims JSON but is not.
    Malformed,
    /// HTTP 200 whose body stops halfway.
    Truncated,
}

impl Reply {
    pub fn in_band(code: &str, message: impl Into<String>) -> Self {
        Reply::InBand { code: code.to_string(), message: message.into() }
    }

    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Reply::Text(status, text.into())
    }

    /// What went wrong, for the request log: the error code, or the status of an answer
    /// without one; `None` for a success.
    pub fn error(&self) -> Option<String> {
        match self {
            Reply::Gateway(error) => Some(error.code.clone()),
            Reply::InBand { code, .. } => Some(code.clone()),
            Reply::GatewayPage(status) => Some(format!("HTTP {status}")),
            Reply::Text(status, _) if *status >= 400 => Some(format!("HTTP {status}")),
            Reply::Malformed => Some("malformed".into()),
            Reply::Truncated => Some("truncated".into()),
            Reply::Answer(_) | Reply::Text(..) | Reply::Json(_) => None,
        }
    }
}

/// A rendered answer, ready for the HTTP layer.
pub struct Rendered {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// When set, only this many bytes of `body` are sent although `Content-Length` says all.
    pub cut_at: Option<usize>,
}

/// An uppercase UUID-looking id, as the gateway's `RequestId`.
pub fn request_id() -> String {
    let n: u128 = rand::rng().random();
    let hex = format!("{n:032X}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
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

fn gateway_json(request_id: &str, host: &str, product: &str, error: &GatewayError) -> Value {
    json!({
        "RequestId": request_id,
        "HostId": host,
        "Code": error.code,
        "Message": error.message,
        "Recommend": format!(
            "https://api.aliyun.com/troubleshoot?q={}&product={product}&requestId={request_id}", error.code
        ),
    })
}

/// A plausible success that a truncation cuts in half.
fn sample_answer(request_id: &str) -> Value {
    json!({
        "RequestId": request_id,
        "Success": "true",
        "Code": "",
        "Message": "",
        "Data": { "PageNumber": 1, "PageSize": 10, "TotalElements": 1, "TotalPages": 1,
                  "Content": { "List": [{ "TaskId": "dt-sample000001", "DownloadStatus": "running" }] } },
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

/// How the request asked to be answered: `json` is whether it said `Format=json`, `action` names
/// the document's root (`<Action>Response`), `host` goes into `HostId` and `product` into the
/// `Recommend` link of errors.
pub struct Rendering<'a> {
    pub json: bool,
    pub action: &'a str,
    pub host: &'a str,
    pub product: &'a str,
}

/// Renders `reply` as the request asked.
pub fn render(reply: Reply, how: &Rendering<'_>) -> Rendered {
    let id = request_id();
    let mut headers = vec![("x-acs-request-id", id.clone())];
    let root = if how.action.is_empty() { "Response".to_string() } else { format!("{}Response", how.action) };
    let (status, (content_type, body), cut_at) = match reply {
        Reply::Answer(mut fields) => {
            fields.insert("RequestId".into(), Value::String(id.clone()));
            (200, document(how.json, &root, Value::Object(fields)), None)
        }
        Reply::InBand { code, message } => {
            (200, document(how.json, &root, in_band_json(&id, &code, &message)), None)
        }
        Reply::Gateway(error) => {
            if let Some(ms) = error.retry_after_ms {
                headers.push(("x-acs-retry-after", ms.to_string()));
            }
            (
                error.status,
                document(how.json, "Error", gateway_json(&id, how.host, how.product, &error)),
                None,
            )
        }
        Reply::GatewayPage(status) => (status, (HTML, gateway_page(status).into_bytes()), None),
        Reply::Text(status, text) => (status, ("text/plain", text.into_bytes()), None),
        Reply::Json(value) => (200, (JSON, value.to_string().into_bytes()), None),
        Reply::Malformed => {
            let body = format!("{{'RequestId': '{id}', 'Success': true, Data: <html>upstream error</html>");
            (200, (JSON, body.into_bytes()), None)
        }
        Reply::Truncated => {
            let body = sample_answer(&id).to_string().into_bytes();
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
        let how = Rendering { json: true, action: "DescribeDownloadTask", host: "h", product: "Dbs" };
        let rendered = render(Reply::Malformed, &how);
        assert!(serde_json::from_slice::<Value>(&rendered.body).is_err());
    }
}

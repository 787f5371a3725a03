//! Malformed requests through the real server on port 0, over raw TCP where an HTTP client would
//! not send them (a body shorter than its `Content-Length`, broken chunks, undecodable paths).
//! Each case is named after the defect it guards against, gets its 4xx with the JSON error
//! body `{"error": <code>, "message": ...}`, and changes nothing: the numbers, keys and survey
//! answers in the store are counted before and after, and a processing number offered with a
//! refused registration still works afterwards.
//!
//! The refusals happen before the store is touched, so one backend (SQLite) is enough here;
//! `http_api.rs` runs the accepted paths on both.

mod common;

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use cocoa_server::{Clock, ManualClock};
use common::{interval_of_day, Backend, Server, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NUMBERS: &str = "/api/v1/processing-numbers";
const V2: &str = "/api/v2/diagnosis";
const V3: &str = "/api/v3/diagnosis";
const EVENT_LOG: &str = "/api/v1/event_log";

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2022, 8, 10, 5, 30, 0).unwrap()
}

/// What the store holds: (numbers, keys, survey answers).
type Counts = (u64, usize, u64);

/// An answer: the status, the headers (lower-case names) and the body as JSON (`Null` if none).
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    /// Asserts the JSON error shape (exactly `error` and `message`, as `application/json`) and
    /// returns the code.
    fn code(&self) -> &str {
        let media = self
            .headers
            .iter()
            .find(|(name, _)| name == "content-type")
            .map(|(_, v)| v.as_str());
        assert_eq!(media, Some("application/json"), "{self:?}");
        let fields = self.body.as_object().unwrap_or_else(|| panic!("{self:?}"));
        assert_eq!(fields.len(), 2, "{self:?}");
        assert!(self.body["message"].is_string(), "{self:?}");
        self.body["error"].as_str().unwrap()
    }
}

struct Fixture {
    server: Server,
    backend: Backend,
    http: reqwest::Client,
}

impl Fixture {
    async fn new() -> Self {
        let backend = Backend::sqlite().await;
        let clock = Arc::new(ManualClock::new(start_time()));
        let server = Server::start(backend.store.clone(), clock as Arc<dyn Clock>, |_| {}).await;
        Self {
            server,
            backend,
            http: reqwest::Client::new(),
        }
    }

    async fn counts(&self) -> Counts {
        let store = &self.backend.store;
        (
            store.count_numbers().await.unwrap(),
            store.all_keys().await.unwrap().len(),
            store.count_survey_responses().await.unwrap(),
        )
    }

    /// Sends `request` as it is over a new connection, closes the sending side when
    /// `close_after` (as a client that has sent everything it will send), and reads the answer.
    async fn raw_with(&self, request: &[u8], close_after: bool) -> Answer {
        let address = self.server.base.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(request).await.unwrap();
        if close_after {
            stream.shutdown().await.unwrap();
        }
        let mut got = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut got),
        )
        .await
        .expect("an answer within 10 s")
        .unwrap();
        let text = String::from_utf8_lossy(&got).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| {
            panic!(
                "no answer to {:?}: {text:?}",
                String::from_utf8_lossy(request)
            )
        });
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Answer {
            status: status.parse().unwrap(),
            headers,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
        }
    }

    /// A complete request of `method path` with `headers` (each ending in CRLF) and `body`.
    async fn raw(&self, method: &str, path: &str, headers: &str, body: &[u8]) -> Answer {
        self.raw_with(&request_bytes(method, path, headers, body), false)
            .await
    }

    /// The same, after which the client stops sending (it shuts its side of the connection
    /// down), so that a body shorter than announced ends there.
    async fn cut(&self, method: &str, path: &str, headers: &str, body: &[u8]) -> Answer {
        self.raw_with(&request_bytes(method, path, headers, body), true)
            .await
    }

    /// A request through reqwest: JSON `body` text, the admin token on issuance, and the
    /// given `Content-Type` (none when `None`).
    async fn send(&self, path: &str, content_type: Option<&str>, body: String) -> Answer {
        let url = self.server.url(path);
        let mut request = match path {
            NUMBERS => self.http.post(url).bearer_auth(ADMIN_TOKEN),
            _ => self.http.put(url),
        };
        if let Some(kind) = content_type {
            request = request.header("content-type", kind);
        }
        let r = request.body(body).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let text = r.text().await.unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn json(&self, path: &str, body: String) -> Answer {
        self.send(path, Some("application/json"), body).await
    }

    /// A fresh processing number.
    async fn number(&self) -> String {
        let answer = self.json(NUMBERS, "{}".into()).await;
        assert_eq!(answer.status, 201, "{answer:?}");
        answer.body["processingNumbers"][0]["processingNumber"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Asserts that every case gets its status and code and changes nothing in the store.
    async fn refuses(&self, cases: &[Case]) {
        for case in cases {
            let before = self.counts().await;
            let answer = match &case.request {
                Request::Json(path, body) => self.json(path, body.clone()).await,
                Request::Typed(path, kind, body) => self.send(path, *kind, body.clone()).await,
                Request::Raw(bytes) => self.raw_with(bytes, false).await,
            };
            assert_eq!(answer.status, case.status, "{}: {answer:?}", case.name);
            assert_eq!(answer.code(), case.code, "{}", case.name);
            assert_eq!(
                self.counts().await,
                before,
                "{}: the store changed",
                case.name
            );
        }
    }
}

/// How a case is sent.
enum Request {
    /// JSON text with `Content-Type: application/json`.
    Json(&'static str, String),
    /// A body with the given `Content-Type`, or none.
    Typed(&'static str, Option<&'static str>, String),
    /// A complete request's bytes over TCP.
    Raw(Vec<u8>),
}

fn request_bytes(method: &str, path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{headers}\r\n")
            .into_bytes();
    request.extend_from_slice(body);
    request
}

struct Case {
    name: &'static str,
    request: Request,
    status: u16,
    code: &'static str,
}

fn case(name: &'static str, request: Request, status: u16, code: &'static str) -> Case {
    Case {
        name,
        request,
        status,
        code,
    }
}

fn key(seed: u8, day: u32) -> Value {
    json!({
        "keyData": base64::engine::general_purpose::STANDARD.encode([seed; 16]),
        "rollingStartNumber": interval_of_day(day),
        "rollingPeriod": 144,
        "reportType": 1
    })
}

/// A registration with keys for 5..=9 August (onset 5 August, symptomatic).
fn registration(number: &str, seed: u8) -> Value {
    json!({
        "hasSymptom": true,
        "onsetOfSymptomOrTestDate": "2022-08-05T00:00:00.000+09:00",
        "keys": (5..=9u32).map(|d| key(seed.wrapping_add(d as u8), d)).collect::<Vec<_>>(),
        "regions": ["440"],
        "platform": "android",
        "verificationPayload": number,
        "idempotency_key": format!("attempt-{seed}"),
    })
}

fn survey_content() -> Value {
    json!({"q1": 5, "q2": 3, "start_date": 1_600_000_000, "exposure_data": {"daily_summaries": [
        {"DateMillisSinceEpoch": 1_659_312_000_000_i64, "ExposureDetected": 1}]}})
}

fn event_log(content: Value) -> Value {
    json!({"idempotencyKey": "k", "eventLogs": [
        {"hasConsent": true, "epoch": 1_660_000_000, "type": "survey", "subtype": "survey", "content": content}
    ]})
}

/// `text` with the first occurrence of `from` replaced by `to`: a member named twice cannot be
/// built with `json!`, so cases splice it into the serialized text.
fn splice(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from} is not in {text}");
    text.replacen(from, to, 1)
}

#[tokio::test]
async fn duplicate_json_members_are_rejected() {
    let f = Fixture::new().await;
    let number = f.number().await;
    let good = registration(&number, 1).to_string();
    // Two `keys`: the first is the real one, the second would be stored by a last-wins parser.
    let other_keys = json!([key(99, 8)]).to_string();
    let two_keys = splice(
        &good,
        "\"keys\":",
        &format!("\"keys\":{other_keys},\"keys\":"),
    );
    let nested = splice(
        &good,
        "\"keyData\":",
        "\"keyData\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"keyData\":",
    );
    let ignored_field = splice(&good, "\"platform\":", "\"platform\":\"ios\",\"platform\":");
    let escaped = splice(
        &good,
        "\"regions\":",
        "\"regions\":[\"441\"],\"\\u0072egions\":",
    );
    let survey = event_log(survey_content()).to_string();
    let mut cases = vec![
        case(
            "issuance: count twice",
            Request::Json(NUMBERS, r#"{"count":1,"count":2}"#.into()),
            400,
            "bad_request",
        ),
        case(
            "issuance: lifetime twice, spelt with an escape",
            Request::Json(
                NUMBERS,
                r#"{"lifetimeMinutes":5,"lifetime\u004dinutes":1440}"#.into(),
            ),
            400,
            "bad_request",
        ),
    ];
    for path in [V2, V3] {
        for (name, body) in [
            ("registration: keys twice", &two_keys),
            ("registration: keyData twice inside a key", &nested),
            ("registration: an ignored field twice", &ignored_field),
            ("registration: regions twice, one escaped", &escaped),
        ] {
            cases.push(case(
                name,
                Request::Json(path, body.clone()),
                400,
                "bad_request",
            ));
        }
    }
    for (name, body) in [
        (
            "survey: eventLogs twice",
            splice(&survey, "\"eventLogs\":", "\"eventLogs\":[],\"eventLogs\":"),
        ),
        (
            "survey: q1 twice in the content",
            splice(&survey, "\"q1\":", "\"q1\":1,\"q1\":"),
        ),
        (
            "survey: a flag twice in a day",
            splice(
                &survey,
                "\"ExposureDetected\":",
                "\"ExposureDetected\":0,\"ExposureDetected\":",
            ),
        ),
        (
            "survey: twice in an entry without consent, which is otherwise not read",
            json!({"idempotencyKey": "k", "eventLogs": [
                {"hasConsent": false, "epoch": 1, "type": "x", "subtype": "x", "content": {"a": 1}}
            ]})
            .to_string()
            .replace("{\"a\":1}", "{\"a\":1,\"a\":2}"),
        ),
    ] {
        cases.push(case(
            name,
            Request::Json(EVENT_LOG, body),
            400,
            "bad_request",
        ));
    }
    f.refuses(&cases).await;
    // The number offered with the refused registrations is still unused; the same request
    // without the second member is taken and stores the first `keys`.
    let answer = f.json(V2, good).await;
    assert_eq!(answer.status, 204, "{answer:?}");
    let stored = f.backend.store.all_keys().await.unwrap();
    assert_eq!(stored.len(), 5);
    // A name that is only similar is no duplicate.
    let answer = f.json(NUMBERS, r#"{"count":1,"Count":2}"#.into()).await;
    assert_eq!((answer.status, answer.code()), (400, "bad_request"));
    let answer = f.json(EVENT_LOG, survey).await;
    assert_eq!(answer.status, 201, "{answer:?}");
}

#[tokio::test]
async fn invalid_utf8_in_c19r_path_gets_json_400() {
    let f = Fixture::new().await;
    let cases: Vec<Case> = [
        "/c19r/%FF",
        "/c19r/440/%C3%28.zip",
        "/c19r/440/list%E3%81.json",
    ]
    .into_iter()
    .map(|path| {
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        case(
            path,
            Request::Raw(request.into_bytes()),
            400,
            "invalid_path",
        )
    })
    .collect();
    f.refuses(&cases).await;
    // HEAD gets the same status, without a body.
    let head = f.raw("HEAD", "/c19r/%FF", "", b"").await;
    assert_eq!(head.status, 400);
    // Outside `/c19r/`, such a path is no endpoint: the JSON 404.
    let answer = f.raw("GET", "/api/v1/%FF", "", b"").await;
    assert_eq!((answer.status, answer.code()), (404, "not_found"));
}

/// The headers a JSON request to `path` needs besides its framing.
fn headers_for(path: &str) -> String {
    let auth = if path == NUMBERS {
        format!("Authorization: Bearer {ADMIN_TOKEN}\r\n")
    } else {
        String::new()
    };
    format!("{auth}Content-Type: application/json\r\n")
}

fn method_for(path: &str) -> &'static str {
    if path == NUMBERS {
        "POST"
    } else {
        "PUT"
    }
}

/// A valid body for each JSON endpoint.
fn valid_body(path: &str, number: &str) -> String {
    match path {
        NUMBERS => json!({"count": 3}).to_string(),
        EVENT_LOG => event_log(survey_content()).to_string(),
        _ => registration(number, 7).to_string(),
    }
}

#[tokio::test]
async fn truncated_body_gets_400_not_413() {
    let f = Fixture::new().await;
    let number = f.number().await;
    for path in [NUMBERS, V2, V3, EVENT_LOG] {
        let body = valid_body(path, &number);
        let cut = &body.as_bytes()[..body.len() / 2];
        let before = f.counts().await;
        for (declared, sent) in [(body.len(), cut), (body.len(), &b""[..]), (1, &b""[..])] {
            let headers = format!("{}Content-Length: {declared}\r\n", headers_for(path));
            let answer = f.cut(method_for(path), path, &headers, sent).await;
            assert_eq!(answer.status, 400, "{path} {declared}: {answer:?}");
            assert_eq!(answer.code(), "malformed_body", "{path}");
        }
        assert_eq!(f.counts().await, before, "{path}");
        // Too large is still 413, declared or not.
        let headers = format!("{}Content-Length: 10485761\r\n", headers_for(path));
        let answer = f.raw(method_for(path), path, &headers, b"{").await;
        assert_eq!(
            (answer.status, answer.code()),
            (413, "payload_too_large"),
            "{path}"
        );
    }
    // The number offered with the cut registrations still works.
    let answer = f.json(V2, registration(&number, 7).to_string()).await;
    assert_eq!(answer.status, 204, "{answer:?}");
}

#[tokio::test]
async fn bad_chunk_gets_400_not_413() {
    let f = Fixture::new().await;
    let number = f.number().await;
    for path in [NUMBERS, V2, V3] {
        let body = valid_body(path, &number);
        let framed = |chunks: String| {
            let headers = format!("{}Transfer-Encoding: chunked\r\n", headers_for(path));
            (headers, chunks.into_bytes())
        };
        let before = f.counts().await;
        for (name, chunks) in [
            (
                "a size that is not hex",
                format!("zz\r\n{body}\r\n0\r\n\r\n"),
            ),
            (
                "a chunk longer than its size",
                format!("4\r\n{body}\r\n0\r\n\r\n"),
            ),
            (
                "a chunk cut short",
                format!("{:x}\r\n{}", body.len(), &body[..body.len() / 2]),
            ),
            ("no last chunk", format!("{:x}\r\n{body}\r\n", body.len())),
            (
                "a size line without CRLF",
                format!("{:x};{}", body.len(), "x".repeat(64)),
            ),
        ] {
            let (headers, bytes) = framed(chunks);
            let answer = f.cut(method_for(path), path, &headers, &bytes).await;
            assert_eq!(answer.status, 400, "{path} {name}: {answer:?}");
            assert_eq!(answer.code(), "malformed_body", "{path} {name}");
        }
        assert_eq!(f.counts().await, before, "{path}");
        // Good chunks are read; too many bytes in good chunks is still 413.
        let (headers, bytes) =
            framed("20000\r\n".to_owned() + &"x".repeat(0x20000) + "\r\n0\r\n\r\n");
        let answer = f.raw(method_for(path), path, &headers, &bytes).await;
        assert_eq!(
            (answer.status, answer.code()),
            (413, "payload_too_large"),
            "{path}"
        );
    }
    let (headers, bytes) = (
        format!("{}Transfer-Encoding: chunked\r\n", headers_for(NUMBERS)),
        "5\r\n{\"cou\r\n7\r\nnt\":2}\n\r\n0\r\n\r\n",
    );
    let answer = f.raw("POST", NUMBERS, &headers, bytes.as_bytes()).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    // The event log takes no chunked body at all: 411, before any chunk is read.
    let headers = format!("{}Transfer-Encoding: chunked\r\n", headers_for(EVENT_LOG));
    let answer = f.raw("PUT", EVENT_LOG, &headers, b"zz\r\n").await;
    assert_eq!((answer.status, answer.code()), (411, "length_required"));
}

#[tokio::test]
async fn signed_year_date_is_rejected() {
    let f = Fixture::new().await;
    let number = f.number().await;
    let mut cases = Vec::new();
    for (name, date) in [
        ("a signed year", "+2022-08-09"),
        ("a negative year", "-2022-08-09"),
        ("a five-digit signed year", "+02022-08-09"),
        ("a one-digit month", "2022-8-09"),
        ("a one-digit day", "2022-08-9"),
        ("a date-time", "2022-08-09T00:00:00Z"),
        ("a space before", " 2022-08-09"),
    ] {
        for field in ["symptomOnsetDate", "testDate"] {
            cases.push(case(
                name,
                Request::Json(NUMBERS, json!({ field: date }).to_string()),
                400,
                "bad_request",
            ));
        }
    }
    for (name, date) in [
        ("onset: a signed year", "+2022-08-05T00:00:00Z"),
        ("onset: a five-digit signed year", "+02022-08-05T00:00:00Z"),
        ("onset: a bare date, which is no date-time", "2022-08-05"),
        ("onset: a signed bare date", "+2022-08-05"),
        ("onset: a space for the T", "2022-08-05 00:00:00Z"),
        ("onset: no offset", "2022-08-05T00:00:00"),
        ("onset: an offset without colon", "2022-08-05T00:00:00+0900"),
    ] {
        let mut body = registration(&number, 3);
        body["onsetOfSymptomOrTestDate"] = json!(date);
        for path in [V2, V3] {
            cases.push(case(
                name,
                Request::Json(path, body.to_string()),
                400,
                "invalid_onset_date",
            ));
        }
    }
    f.refuses(&cases).await;
    // The same dates, well written, are taken.
    let answer = f
        .json(NUMBERS, json!({"testDate": "2022-08-09"}).to_string())
        .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let mut body = registration(&number, 3);
    body["onsetOfSymptomOrTestDate"] = json!("2022-08-05t00:00:00.5+09:00");
    let answer = f.json(V3, body.to_string()).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn missing_content_type_gets_415() {
    let f = Fixture::new().await;
    let number = f.number().await;
    let mut cases = Vec::new();
    for path in [NUMBERS, V2, V3, EVENT_LOG] {
        let body = valid_body(path, &number);
        for (name, kind) in [
            ("no Content-Type", None),
            ("text/plain", Some("text/plain")),
            ("a form", Some("application/x-www-form-urlencoded")),
            ("a near miss", Some("application/jsonx")),
            ("a structured suffix", Some("application/problem+json")),
            (
                "another charset",
                Some("application/json; charset=iso-8859-1"),
            ),
            ("an empty value", Some("")),
        ] {
            cases.push(case(
                name,
                Request::Typed(path, kind, body.clone()),
                415,
                "unsupported_media_type",
            ));
        }
        // Two Content-Type headers, even if both are JSON.
        let mut raw = format!(
            "{} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            method_for(path),
            headers_for(path),
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body.as_bytes());
        cases.push(case(
            "two Content-Type headers",
            Request::Raw(raw),
            415,
            "unsupported_media_type",
        ));
    }
    f.refuses(&cases).await;
    // The media type is case-insensitive and may carry parameters.
    for kind in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=\"UTF-8\"",
        "application/json ; foo=bar",
    ] {
        let answer = f.send(NUMBERS, Some(kind), "{}".into()).await;
        assert_eq!(answer.status, 201, "{kind}: {answer:?}");
    }
    // Endpoints whose body is optional or ignored need no type for an empty body.
    let answer = f.send(NUMBERS, None, String::new()).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    let r = f
        .http
        .post(f.server.url("/api/v1/admin/export"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // An empty registration without a type is still no registration (400, not 415).
    let answer = f.send(V2, None, String::new()).await;
    assert_eq!((answer.status, answer.code()), (400, "bad_request"));
    // And the numbers offered above still work.
    let answer = f.json(V2, registration(&number, 7).to_string()).await;
    assert_eq!(answer.status, 204, "{answer:?}");
}

#[tokio::test]
async fn lifetime_minutes_null_is_refused() {
    let f = Fixture::new().await;
    let cases: Vec<Case> = ["count", "lifetimeMinutes", "symptomOnsetDate", "testDate"]
        .into_iter()
        .map(|field| {
            case(
                field,
                Request::Json(NUMBERS, json!({ field: null }).to_string()),
                400,
                "bad_request",
            )
        })
        .collect();
    f.refuses(&cases).await;
}

#[tokio::test]
async fn values_the_document_forbids_are_refused() {
    let f = Fixture::new().await;
    let number = f.number().await;
    let mut empty_region = registration(&number, 4);
    empty_region["regions"] = json!([""]);
    let mut both = registration(&number, 4);
    both["regions"] = json!(["440", ""]);
    let mut cases = Vec::new();
    for path in [V2, V3] {
        cases.push(case(
            "an empty region name",
            Request::Json(path, empty_region.to_string()),
            400,
            "unsupported_region",
        ));
        cases.push(case(
            "an empty region name beside a served one",
            Request::Json(path, both.to_string()),
            400,
            "unsupported_region",
        ));
    }
    for (field, value) in [("type", ""), ("subtype", ""), ("type", "Survey")] {
        let mut body = event_log(survey_content());
        body["eventLogs"][0][field] = json!(value);
        cases.push(case(
            "a consented entry that is not a survey",
            Request::Json(EVENT_LOG, body.to_string()),
            400,
            "invalid_survey",
        ));
    }
    f.refuses(&cases).await;
}

#[tokio::test]
async fn framework_rejections_have_the_json_shape() {
    let f = Fixture::new().await;
    for (method, path, status, code) in [
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/api/v2/%FF", 404, "not_found"),
        ("DELETE", V2, 405, "method_not_allowed"),
        ("GET", EVENT_LOG, 405, "method_not_allowed"),
        ("POST", "/c19r/440/list.json", 405, "method_not_allowed"),
        ("GET", "/c19r/440/list.json?x=%FF", 404, "not_found"),
        ("GET", "/c19r/%FF?x", 400, "invalid_path"),
    ] {
        let answer = f.raw(method, path, "", b"").await;
        assert_eq!(answer.status, status, "{method} {path}: {answer:?}");
        assert_eq!(answer.code(), code, "{method} {path}");
    }
}

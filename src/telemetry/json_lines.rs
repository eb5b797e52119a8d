//! JSON log lines, byte for byte as tracing-subscriber's JSON format writes them
//! (`.json().flatten_event(true).with_current_span(false)`), at a quarter of its cost.
//!
//! tracing-subscriber writes each event through serde_json into an `io::Write` adaptor that checks
//! every fragment for UTF-8 again, and formats the timestamp digit by digit: about 17k instructions
//! a line (callgrind), as much as the rest of a `/hello` request. This writes the same text into a
//! plain String: about 4.5k. Events inside a span keep tracing-subscriber's formatter, which lists
//! the spans. The tests compare the two formatters' lines.
//!
//! The access line, one per request, skips tracing's dispatch as well when the JSON log is on
//! ([`AccessLine::write_json`]): its keys are known, so only its values are formatted. Routing an
//! event through the subscriber and visiting its eight fields cost about 3k more instructions.

use std::cell::RefCell;
use std::fmt::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::ser::{CompactFormatter, Formatter};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent};
use tracing_subscriber::registry::LookupSpan;

/// The event format of the JSON logs.
pub struct JsonLines {
    in_spans: Format<Json>,
}

impl Default for JsonLines {
    fn default() -> Self {
        JsonLines {
            in_spans: tracing_subscriber::fmt::format()
                .json()
                .flatten_event(true)
                .with_current_span(false),
        }
    }
}

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut out: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if ctx.lookup_current().is_some() {
            return self.in_spans.format_event(ctx, out, event);
        }
        // Built in a plain String (inlined pushes), then handed over in one write.
        LINE.with(|line| {
            let mut line = line.borrow_mut();
            line.clear();
            let meta = event.metadata();
            line.push_str("{\"timestamp\":\"");
            write_timestamp(&mut line, SystemTime::now());
            line.push_str("\",\"level\":\"");
            line.push_str(meta.level().as_str());
            line.push('"');
            event.record(&mut Fields { out: &mut line });
            line.push_str(",\"target\":");
            push_json_str(&mut line, meta.target());
            line.push_str("}\n");
            out.write_str(&line)
        })
    }
}

/// What the access log says of one request: the fields of its `shipshape::access` event.
pub struct AccessLine<'a> {
    pub method: &'a str,
    pub route: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub latency_ms: f64,
    pub request_id: &'a str,
}

impl AccessLine<'_> {
    /// The line as a tracing event, for the subscribers that format it themselves (the terminal
    /// format, and the JSON one when traces are exported, with the request's trace id).
    pub fn emit(&self, trace_id: Option<impl fmt::Display>) {
        tracing::info!(
            target: "shipshape::access",
            method = self.method,
            route = self.route,
            path = self.path,
            status = self.status,
            latency_ms = self.latency_ms,
            request_id = self.request_id,
            trace_id = trace_id.map(tracing::field::display),
            "request"
        );
    }

    /// The line [`Self::emit`] makes [`JsonLines`] write (without a trace id), written directly.
    pub fn write_json(&self, line: &mut String, now: SystemTime) {
        line.clear();
        line.push_str("{\"timestamp\":\"");
        write_timestamp(line, now);
        line.push_str("\",\"level\":\"INFO\",\"message\":\"request\",\"method\":");
        push_json_str(line, self.method);
        line.push_str(",\"route\":");
        push_json_str(line, self.route);
        line.push_str(",\"path\":");
        push_json_str(line, self.path);
        line.push_str(",\"status\":");
        line.push_str(itoa::Buffer::new().format(self.status));
        line.push_str(",\"latency_ms\":");
        push_json_f64(line, self.latency_ms);
        line.push_str(",\"request_id\":");
        push_json_str(line, self.request_id);
        line.push_str(",\"target\":\"shipshape::access\"}\n");
    }
}

/// Each field as `,"name":value`, the way tracing-serde serialises it.
struct Fields<'a> {
    out: &'a mut String,
}

impl Fields<'_> {
    fn key(&mut self, field: &Field) -> &mut String {
        self.out.push(',');
        push_json_str(self.out, field.name());
        self.out.push(':');
        self.out
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        push_json_str(self.key(field), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field).push_str(itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field).push_str(itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field)
            .push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        push_json_f64(self.key(field), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let out = self.key(field);
        DEBUG_TEXT.with(|text| {
            let mut text = text.borrow_mut();
            text.clear();
            let _ = write!(text, "{value:?}");
            push_json_str(out, &text);
        });
    }
}

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    static DEBUG_TEXT: RefCell<String> = const { RefCell::new(String::new()) };
    /// The last second formatted on this thread and its text up to the fraction's dot.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// RFC 3339 in UTC with microseconds, as tracing-subscriber's `SystemTime` timer writes it:
/// `2026-12-06T06:41:02.743764Z`.
fn write_timestamp(out: &mut String, now: SystemTime) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != secs {
            let (days, rest) = (secs / 86_400, secs % 86_400);
            let (year, month, day) = civil_from_days(days as i64);
            second.1.clear();
            let _ = write!(
                second.1,
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.",
                rest / 3600,
                rest % 3600 / 60,
                rest % 60
            );
            second.0 = secs;
        }
        out.push_str(&second.1);
    });
    let micros = since.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut n = micros;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend(digits.iter().map(|&d| d as char));
    out.push('Z');
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// serde_json's own text for a float; JSON has none for NaN and the infinities.
fn push_json_f64(out: &mut String, value: f64) {
    let mut buf = [0u8; 32];
    let len = {
        let mut rest = &mut buf[..];
        let written = value.is_finite() && CompactFormatter.write_f64(&mut rest, value).is_ok();
        if written { 32 - rest.len() } else { 0 }
    };
    match std::str::from_utf8(&buf[..len]) {
        Ok(text) if len > 0 => out.push_str(text),
        _ => out.push_str("null"),
    }
}

/// A JSON string, escaped as serde_json escapes it: `"` and `\\`, and the control characters
/// (short forms where JSON has them); everything else as it is.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // One table load per byte: most strings need no escaping at all.
        if !NEEDS_ESCAPE[usize::from(b)] {
            continue;
        }
        out.push_str(&s[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The bytes JSON strings escape: control characters, `"` and the backslash.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    impl Lines {
        /// The lines without their timestamps (the two formatters run at different instants).
        fn text(&self) -> Vec<String> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|l| {
                    let (head, rest) = l.split_once("\"timestamp\":\"").expect(l);
                    let (_, rest) = rest.split_once('"').expect(l);
                    format!("{head}{rest}")
                })
                .collect()
        }
    }

    const ACCESS: AccessLine<'static> = AccessLine {
        method: "GET",
        route: "/api/users/{id}/",
        path: "/api/users/7\"\\\u{1}é/",
        status: 404,
        latency_ms: 0.264584,
        request_id: "ee65fe23-4c20-4ece-96d0-845b13ce2509",
    };

    fn events() {
        ACCESS.emit(None::<&str>);
        ACCESS.emit(Some("a-trace-id"));
        tracing::warn!(
            quoted = "a \"b\" \\ c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f} é 日 \u{1F600}",
            negative = -3i64,
            big = u64::MAX,
            small = i64::MIN,
            yes = true,
            no = false,
            nan = f64::NAN,
            inf = f64::INFINITY,
            tiny = 1e-7,
            huge = 1e21,
            exact = 123_456_789.125,
            whole = 2.0,
            debug = ?Some("x\"y"),
            display = %"shown \"as\" text",
            "a message with {} and \"quotes\"", 42
        );
        tracing::error!(error = %std::io::Error::other("disk on fire"), "only fields");
        tracing::debug!("no fields at all");
        let span = tracing::info_span!("request", id = 7, name = "x\"y");
        let _entered = span.enter();
        tracing::info!(inside = true, "inside a span");
    }

    /// Both formatters, fed the same events, write the same lines (timestamps aside).
    #[test]
    fn lines_are_tracing_subscribers_json() {
        let ours = Lines::default();
        let theirs = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(ours.clone())
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines::default())
            .finish();
        tracing::subscriber::with_default(subscriber, events);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(theirs.clone())
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .finish();
        tracing::subscriber::with_default(subscriber, events);
        assert_eq!(ours.text().len(), 6);
        assert_eq!(ours.text(), theirs.text());
    }

    /// The access line written directly is the line of its event, for every value the fields
    /// take: escaped strings, every status, fractions, whole numbers, NaN.
    #[test]
    fn the_direct_access_line_is_its_events_line() {
        let now = UNIX_EPOCH + Duration::from_micros(1_796_539_262_743_764);
        let lines = [
            ACCESS,
            AccessLine {
                status: 200,
                latency_ms: 2.0,
                route: "unmatched",
                ..ACCESS
            },
            AccessLine {
                status: 503,
                latency_ms: 1e-7,
                method: "OTHER",
                ..ACCESS
            },
            AccessLine {
                status: 65535,
                latency_ms: f64::NAN,
                request_id: "",
                ..ACCESS
            },
        ];
        for access in lines {
            let theirs = Lines::default();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(theirs.clone())
                .fmt_fields(JsonFields::new())
                .event_format(JsonLines::default())
                .finish();
            tracing::subscriber::with_default(subscriber, || access.emit(None::<&str>));
            let mut ours = String::new();
            access.write_json(&mut ours, now);
            assert!(ours.starts_with("{\"timestamp\":\"2026-12-06T06:41:02.743764Z\","));
            let ours_text = Lines(Arc::new(Mutex::new(ours.into_bytes()))).text();
            assert_eq!(ours_text, theirs.text());
        }
    }

    /// Every ASCII byte at every place of a string, and multi-byte characters at each offset,
    /// escaped as serde_json escapes them.
    #[test]
    fn strings_are_escaped_as_serde_json_does() {
        let mut cases: Vec<String> = Vec::new();
        for b in 0u8..0x80 {
            for at in 0..19 {
                let mut text = "abcdefghijklmnopqrs".to_string().into_bytes();
                text[at] = b;
                cases.push(String::from_utf8(text).unwrap());
            }
        }
        for prefix in 0..9 {
            cases.push(format!("{}é日\u{1F600}\"\u{7f}é", "x".repeat(prefix)));
        }
        cases.push(String::new());
        for case in cases {
            let mut ours = String::new();
            push_json_str(&mut ours, &case);
            assert_eq!(ours, serde_json::to_string(&case).unwrap(), "{case:?}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let at = |secs: u64, micros: u64| {
            let mut out = String::new();
            write_timestamp(
                &mut out,
                UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros),
            );
            out
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        assert_eq!(at(1_796_539_262, 743_764), "2026-12-06T06:41:02.743764Z");
        assert_eq!(at(4_107_542_399, 999_999), "2100-02-28T23:59:59.999999Z");
        // The same second twice on one thread (the cached part), then the next one.
        assert_eq!(at(1_796_539_262, 1), "2026-12-06T06:41:02.000001Z");
        assert_eq!(at(1_796_539_263, 0), "2026-12-06T06:41:03.000000Z");
    }
}

//! Event-log output: CSV, JSON and the `--since` filter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::Event;

/// RFC 3339 UTC time of an event, to the millisecond.
pub fn time_text(e: &Event) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(e.time_ms)).to_string()
}

/// Parses `--since`: RFC 3339 (`2026-11-28T06:00:00Z`), Unix seconds, or a
/// duration ago (`30m`, `2h`, `7d`). Returns Unix milliseconds.
pub fn parse_since(text: &str, now: SystemTime) -> Result<u64, String> {
    let ms = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .map_err(|_| format!("{text:?} is before 1970"))
    };
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs.saturating_mul(1000));
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        return ms(t);
    }
    if let Ok(d) = humantime::parse_duration(text) {
        return ms(now.checked_sub(d).unwrap_or(UNIX_EPOCH));
    }
    Err(format!(
        "cannot read {text:?} as a time: use RFC 3339 (2026-11-28T06:00:00Z), \
         Unix seconds, or a duration ago (30m, 2h, 7d)"
    ))
}

/// A text cell: a leading `'` if a spreadsheet would read it as a formula
/// (`=`, `+`, `-`, `@`, tab, carriage return: OWASP's CSV injection advice),
/// then quoted if it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// CSV with a header row; fields with commas, quotes or newlines are quoted,
/// and text that would start a formula is defused with a leading `'`.
pub fn to_csv(events: &[Event]) -> String {
    let mut out = String::from("time,kind,person_id,name,score,frames,detail\n");
    for e in events {
        let row = [
            time_text(e),
            e.kind.to_string(),
            e.person_id.map(|i| i.to_string()).unwrap_or_default(),
            csv_field(e.name.as_deref().unwrap_or("")),
            e.score.map(|s| format!("{s:.4}")).unwrap_or_default(),
            e.frames.to_string(),
            csv_field(e.detail.as_deref().unwrap_or("")),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// One JSON object per event.
pub fn to_json(e: &Event) -> serde_json::Value {
    json!({
        "time": time_text(e),
        "time_ms": e.time_ms,
        "kind": e.kind.as_str(),
        "person_id": e.person_id,
        "name": e.name,
        // Through the f32's shortest text: 0.001, not 0.0010000000474974513.
        "score": e.score.and_then(|s| s.to_string().parse::<f64>().ok()),
        "frames": e.frames,
        "detail": e.detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventKind;

    #[test]
    fn since_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(1_764_316_800); // 2025-11-28T08:00:00Z
        assert_eq!(parse_since("1764316800", now).unwrap(), 1_764_316_800_000);
        assert_eq!(
            parse_since("2025-11-28T06:00:00Z", now).unwrap(),
            (1_764_316_800 - 7200) * 1000
        );
        assert_eq!(
            parse_since("2h", now).unwrap(),
            (1_764_316_800 - 7200) * 1000
        );
        assert_eq!(
            parse_since("7d", now).unwrap(),
            (1_764_316_800 - 7 * 86400) * 1000
        );
        assert!(parse_since("yesterday-ish", now).is_err());
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let e = Event {
            time_ms: 1_764_316_800_123,
            kind: EventKind::Denied,
            person_id: Some(4),
            name: Some("Smith, \"Bob\"".into()),
            score: Some(0.41234),
            frames: 5,
            detail: Some("line one\nline two".into()),
        };
        let json = to_json(&e);
        assert_eq!(json["score"], serde_json::json!(0.41234));
        assert_eq!(json["kind"], "denied");
        let csv = to_csv(&[e]);
        assert_eq!(
            csv,
            "time,kind,person_id,name,score,frames,detail\n\
             2025-11-28T08:00:00.123Z,denied,4,\"Smith, \"\"Bob\"\"\",0.4123,5,\"line one\nline two\"\n"
        );
    }

    /// Names come from gallery files and photo folders: a hostile one must
    /// not run in the spreadsheet that opens the export.
    #[test]
    fn csv_defuses_formulas() {
        let e = |name: &str, detail: &str| Event {
            time_ms: 1_764_316_800_000,
            kind: EventKind::Granted,
            person_id: Some(1),
            name: Some(name.into()),
            score: Some(-0.25),
            frames: 3,
            detail: Some(detail.into()),
        };
        let csv = to_csv(&[
            e("=HYPERLINK(\"http://x.invalid\",\"Bob\")", "+1"),
            e("-2+3", "@SUM(A1)"),
            e("\tTab", "\rCR"),
            e("José = Müller", "a-b"),
        ]);
        let rows: Vec<&str> = csv.lines().skip(1).collect();
        assert_eq!(
            rows[0],
            "2025-11-28T08:00:00.000Z,granted,1,\"'=HYPERLINK(\"\"http://x.invalid\"\",\"\"Bob\"\")\",-0.2500,3,'+1"
        );
        assert_eq!(
            rows[1],
            "2025-11-28T08:00:00.000Z,granted,1,'-2+3,-0.2500,3,'@SUM(A1)"
        );
        assert_eq!(
            rows[2],
            "2025-11-28T08:00:00.000Z,granted,1,'\tTab,-0.2500,3,\"'\rCR\""
        );
        // Only a leading character matters; numbers stay numbers.
        assert_eq!(
            rows[3],
            "2025-11-28T08:00:00.000Z,granted,1,José = Müller,-0.2500,3,a-b"
        );
    }
}

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

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// CSV with a header row; fields with commas, quotes or newlines are quoted.
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
}

//! Unit tests of the event log: recovery, appends, encoding.

use super::*;

pub(super) fn ev(i: u32) -> Event {
    Event {
        time_ms: 1_764_300_000_000 + u64::from(i),
        kind: EventKind::ALL[i as usize % EventKind::ALL.len()],
        person_id: Some(i),
        name: Some(format!("José Müller {i}")),
        score: Some(0.5 + i as f32 / 1000.0),
        frames: 5,
        detail: i
            .is_multiple_of(3)
            .then(|| format!("detail, with \"quotes\" {i}")),
    }
}

pub(super) fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("facegate-events-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn big() -> Rotation {
    Rotation {
        max_bytes: 1 << 30,
        keep: 2,
        max_age: None,
    }
}

#[test]
fn round_trip_and_reopen_appends() {
    let path = dir("rt").join("events.log");
    let mut log = EventLog::open(&path, big()).unwrap();
    for i in 0..5 {
        log.append(&ev(i)).unwrap();
    }
    drop(log);
    let mut log = EventLog::open(&path, big()).unwrap();
    assert_eq!(log.recovery().records, 5);
    log.append(&ev(5)).unwrap();
    let read = read(&path).unwrap();
    assert_eq!(read.events, (0..6).map(ev).collect::<Vec<_>>());
    assert!(read.ignored.is_empty());
}

/// A cut anywhere in the last record: readers see the earlier records,
/// opening cuts the tail off and appends continue cleanly.
#[test]
fn torn_tail_at_every_byte() {
    let d = dir("torn");
    let path = d.join("events.log");
    let mut log = EventLog::open(&path, big()).unwrap();
    for i in 0..3 {
        log.append(&ev(i)).unwrap();
    }
    drop(log);
    let full = std::fs::read(&path).unwrap();
    let last = encode(&ev(2)).unwrap().len();
    for cut in full.len() - last..full.len() {
        std::fs::write(&path, &full[..cut]).unwrap();
        let r = read(&path).unwrap();
        assert_eq!(r.events, vec![ev(0), ev(1)], "cut at {cut}");
        let mut log = EventLog::open(&path, big()).unwrap();
        assert_eq!(
            log.recovery().truncated_bytes,
            (cut - (full.len() - last)) as u64
        );
        assert!(log.recovery().saved_copy.is_none());
        log.append(&ev(9)).unwrap();
        assert_eq!(read(&path).unwrap().events, vec![ev(0), ev(1), ev(9)]);
    }
}

#[test]
fn zero_filled_tail_is_a_torn_tail() {
    let path = dir("zeros").join("events.log");
    let mut log = EventLog::open(&path, big()).unwrap();
    log.append(&ev(1)).unwrap();
    drop(log);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0; 300]);
    std::fs::write(&path, &bytes).unwrap();
    let log = EventLog::open(&path, big()).unwrap();
    assert_eq!(log.recovery().truncated_bytes, 300);
    assert!(log.recovery().saved_copy.is_none());
}

/// A flipped bit in a middle record: reading stops there and reports the
/// rest; opening keeps a copy of the damaged file before cutting.
#[test]
fn damage_in_the_middle_is_reported_and_kept() {
    let d = dir("middle");
    let path = d.join("events.log");
    let mut log = EventLog::open(&path, big()).unwrap();
    for i in 0..4 {
        log.append(&ev(i)).unwrap();
    }
    drop(log);
    let mut bytes = std::fs::read(&path).unwrap();
    let second = HEADER as usize + encode(&ev(0)).unwrap().len();
    bytes[second + FRAME + 3] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let r = read(&path).unwrap();
    assert_eq!(r.events, vec![ev(0)]);
    assert_eq!(r.ignored[0].1, (bytes.len() - second) as u64);
    let log = EventLog::open(&path, big()).unwrap();
    let copy = log.recovery().saved_copy.clone().unwrap();
    assert_eq!(std::fs::read(copy).unwrap(), bytes);
    assert_eq!(read(&path).unwrap().events, vec![ev(0)]);
}

#[test]
fn not_an_event_log_is_moved_aside() {
    let d = dir("foreign");
    let path = d.join("events.log");
    std::fs::write(&path, b"hello, this is not a log").unwrap();
    assert!(read(&path).is_err());
    let mut log = EventLog::open(&path, big()).unwrap();
    let aside = log.recovery().saved_copy.clone().unwrap();
    assert_eq!(std::fs::read(aside).unwrap(), b"hello, this is not a log");
    log.append(&ev(1)).unwrap();
    assert_eq!(read(&path).unwrap().events, vec![ev(1)]);
}

#[test]
fn log_cut_while_writing_its_header_is_empty() {
    let path = dir("header").join("events.log");
    for cut in 0..HEADER as usize {
        std::fs::write(&path, &header()[..cut]).unwrap();
        assert!(read(&path).unwrap().events.is_empty());
        let mut log = EventLog::open(&path, big()).unwrap();
        assert!(log.recovery().saved_copy.is_none());
        log.append(&ev(1)).unwrap();
        assert_eq!(read(&path).unwrap().events, vec![ev(1)]);
    }
}

#[test]
fn huge_length_field_reads_as_damage_without_allocating() {
    let path = dir("len").join("events.log");
    let mut log = EventLog::open(&path, big()).unwrap();
    log.append(&ev(1)).unwrap();
    drop(log);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(read(&path).unwrap().events, vec![ev(1)]);
}

#[test]
fn copies_aside_never_replace_each_other() {
    let path = dir("aside").join("events.log");
    for n in 0..3u8 {
        std::fs::write(&path, [b'x', n]).unwrap();
        let log = EventLog::open(&path, big()).unwrap();
        let aside = log.recovery().saved_copy.clone().unwrap();
        assert_eq!(std::fs::read(&aside).unwrap(), [b'x', n]);
    }
    let kept = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with("events.log.corrupt-")
        })
        .count();
    assert_eq!(kept, 3);
}

#[test]
fn failed_append_leaves_no_partial_record() {
    let path = dir("enospc").join("events.log");
    let mut log = EventLog::open(&path, big()).unwrap();
    log.append(&ev(1)).unwrap();
    let err = log
        .append_with(&ev(2), |file, bytes, at| {
            file.write_all_at(&bytes[..bytes.len() / 2], at)?;
            Err(std::io::Error::from_raw_os_error(28)) // ENOSPC
        })
        .unwrap_err();
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(read(&path).unwrap().ignored, vec![]);
    log.append(&ev(3)).unwrap();
    assert_eq!(read(&path).unwrap().events, vec![ev(1), ev(3)]);
}

#[test]
fn long_details_are_shortened_to_fit() {
    let mut e = ev(3);
    e.detail = Some("é".repeat(10_000));
    let record = encode(&e).unwrap();
    assert!(record.len() <= FRAME + MAX_PAYLOAD);
    let path = dir("long").join("events.log");
    let mut log = EventLog::open(&path, big()).unwrap();
    log.append(&e).unwrap();
    let back = &read(&path).unwrap().events[0];
    assert!(back.detail.as_ref().unwrap().ends_with('…'));
}

#[test]
fn kinds_have_stable_names() {
    for k in EventKind::ALL {
        assert_eq!(k.as_str().parse::<EventKind>().unwrap(), k);
    }
    assert!("door-exploded".parse::<EventKind>().is_err());
}

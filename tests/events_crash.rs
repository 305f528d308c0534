//! Crash safety of the event log: a child process appends events and is
//! killed with SIGKILL at random moments. Every record acknowledged before a
//! kill must be read back exactly; the log must stay readable and accept
//! appends. `FACEGATE_CRASH_KILLS` sets the number of kills (default 100).
//!
//! SIGKILL cannot split one `write` (the kernel finishes the copy), so torn
//! tails from real kills are rare; to run recovery on torn tails every few
//! rounds, the parent also leaves what a power cut can leave after a kill: a
//! cut-off next record, or zeros.

mod common;

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use facegate::events::{self, Event, EventKind, EventLog, Rotation};

const CHILD_ENV: &str = "FACEGATE_EVENTS_CHILD";

fn event(seq: u64) -> Event {
    Event {
        time_ms: 1_764_300_000_000 + seq,
        kind: if seq.is_multiple_of(2) {
            EventKind::Granted
        } else {
            EventKind::Unknown
        },
        person_id: Some(seq as u32),
        name: Some(format!("person {seq}")),
        score: Some((seq % 1000) as f32 / 1000.0),
        frames: (seq % 9) as u16,
        // Varying sizes so kills land at every offset of a record.
        detail: Some("x".repeat((seq % 97) as usize) + &format!(" #{seq}")),
    }
}

fn seq_of(e: &Event) -> u64 {
    e.time_ms - 1_764_300_000_000
}

fn rotation(small: bool) -> Rotation {
    Rotation {
        max_bytes: if small { 4096 } else { 1 << 30 },
        keep: 3,
        // The records are from 2025: no retention, or opening deletes them.
        max_age: None,
    }
}

/// The child: continue the sequence after the last logged event.
#[test]
#[ignore = "run by events_survive_kill_9 as a child process"]
fn child_writer() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let path = Path::new(&path);
    let small = std::env::var("FACEGATE_EVENTS_SMALL").is_ok();
    let mut log = EventLog::open(path, rotation(small)).unwrap();
    let next = events::read(path)
        .unwrap()
        .events
        .last()
        .map_or(0, |e| seq_of(e) + 1);
    for seq in next.. {
        log.append(&event(seq)).unwrap();
        println!("ack {seq}");
    }
}

fn random_u32() -> u32 {
    let mut r = [0u8; 4];
    getrandom::fill(&mut r).unwrap();
    u32::from_le_bytes(r)
}

/// Appends a power-cut tail to the live log file: a strict prefix of the
/// next record, or a run of zeros. Returns its length (0 if none was added).
fn add_torn_tail(path: &Path, next_seq: u64) -> u64 {
    let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(path) else {
        return 0; // killed between rotating the log away and creating it
    };
    if file.metadata().unwrap().len() < events::HEADER {
        return 0; // killed while writing the header: not a log yet
    }
    let tail = if random_u32().is_multiple_of(2) {
        let record = events::encode(&event(next_seq)).unwrap();
        let cut = 1 + random_u32() as usize % (record.len() - 1);
        record[..cut].to_vec()
    } else {
        vec![0; 1 + random_u32() as usize % 512]
    };
    file.write_all(&tail).unwrap();
    tail.len() as u64
}

#[test]
fn events_survive_kill_9() {
    let kills: usize = std::env::var("FACEGATE_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = std::env::temp_dir().join(format!("facegate-events-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let started = Instant::now();
    let (mut checked, mut torn, mut unacked_seen) = (0usize, 0usize, 0usize);
    let (mut simulated, mut early_kills, mut rounds) = (0usize, 0usize, 0usize);
    let stderr_path = dir.join("child.stderr");
    for (label, small) in [("rotating", true), ("single", false)] {
        let path = dir.join(format!("{label}.log"));
        let mut acked: Option<u64> = None;
        for round in 0..kills.div_ceil(2) {
            let mut cmd = common::child_test("child_writer");
            cmd.env(CHILD_ENV, &path)
                .stderr(std::fs::File::create(&stderr_path).unwrap());
            if small {
                cmd.env("FACEGATE_EVENTS_SMALL", "1");
            }
            // Every fourth round kills at a random moment after the start
            // (maybe while opening and recovering); the others after the first
            // acknowledged append, while the child is appending.
            let early = random_u32().is_multiple_of(4);
            early_kills += usize::from(early);
            let (acks, status) = common::kill_child(cmd, "ack ", Duration::from_millis(30), !early);
            assert_eq!(
                status.signal(),
                Some(9),
                "round {round}: the child was not killed but exited ({status}): {}",
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
            rounds += 1;
            acked = acks.into_iter().chain(acked).max();
            let Some(last) = acked else { continue };

            let before = events::read(&path).unwrap();
            torn += before.ignored.len();
            let real_tail = before
                .ignored
                .iter()
                .find(|(file, _)| file == &path)
                .map_or(0, |(_, n)| *n);
            let end_before = before.events.last().map_or(0, seq_of);
            let added = if random_u32().is_multiple_of(3) {
                add_torn_tail(&path, end_before + 1)
            } else {
                0
            };
            simulated += usize::from(added > 0);
            let log = EventLog::open(&path, rotation(small)).unwrap();
            assert_eq!(
                log.recovery().truncated_bytes,
                real_tail + added,
                "round {round}: open cut the wrong amount"
            );
            assert!(
                log.recovery().saved_copy.is_none(),
                "round {round}: damage beyond a torn tail"
            );
            drop(log);
            let after = events::read(&path).unwrap();
            assert!(
                after.ignored.is_empty(),
                "round {round}: open left a torn tail"
            );
            let seqs: Vec<u64> = after.events.iter().map(seq_of).collect();
            // Rotation drops the oldest files: what remains is contiguous up to the end.
            let first = seqs.first().copied().unwrap_or(0);
            assert!(small || first == 0, "round {round}: lost the start");
            for (i, e) in after.events.iter().enumerate() {
                assert_eq!(*e, event(first + i as u64), "round {round}: record {i}");
            }
            let end = seqs.last().copied().unwrap_or(0);
            assert!(
                end >= last,
                "round {round}: acknowledged {last}, log ends at {end}"
            );
            assert!(
                end <= last + 1,
                "round {round}: more than one unacknowledged record"
            );
            unacked_seen += usize::from(end == last + 1);
            acked = Some(end);
            checked += seqs.len();
        }
        // After all the kills the log still takes appends.
        let next = acked.map_or(0, |a| a + 1);
        let mut log = EventLog::open(&path, rotation(small)).unwrap();
        log.append(&event(next)).unwrap();
        drop(log);
        assert_eq!(
            events::read(&path).unwrap().events.last(),
            Some(&event(next))
        );
    }
    assert_eq!(rounds, kills.div_ceil(2) * 2);
    assert!(checked > 0, "no records were ever acknowledged");
    println!(
        "{rounds} kills ({early_kills} at start-up) in {:.1} s: {checked} record checks, \
         {torn} torn tails from kills and {simulated} simulated power-cut tails cut, \
         {unacked_seen} records written but not yet acknowledged",
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

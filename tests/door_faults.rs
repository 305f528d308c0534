//! Door faults seen by the whole terminal: a relay that cannot be driven, a
//! door thread that died.

mod common;

use std::time::Duration;

use common::scene::Scene;
use facegate::door::sim::Failure;
use facegate::events::{Event, EventKind};

/// A relay that cannot be driven is retried every 10 ms through the pulse but
/// logged once (per tick, rotation would wipe the history).
#[test]
fn a_failing_relay_is_logged_once() {
    // The press comes well after start-up: the relay is made to fail only
    // once the terminal is open (the models loaded), and the scripted times
    // count from the door's opening.
    let inputs = "2500 exit press\n2650 exit release\n";
    let scene = Scene::new(
        "relay-fault",
        "blank x80\n",
        inputs,
        "fps = 20\nrealtime = true",
    );
    let out = scene.run_with(|pins| pins.relay.fail(Some(Failure::Error)));
    assert_eq!(out.count(EventKind::ExitButton), 1, "{:?}", out.events);
    let faults: Vec<&Event> = out
        .events
        .iter()
        .filter(|e| e.kind == EventKind::DoorFault)
        .collect();
    assert_eq!(faults.len(), 1, "{:?} relay {:?}", out.events, out.relay);
    assert!(
        faults[0].detail.as_deref().unwrap().contains("relay"),
        "{faults:?}"
    );
    assert_eq!(out.relay_levels(), vec![false], "{:?}", out.relay);
}

/// A dead door thread (a driver bug): the recognised person is not logged as
/// let in, the display says so, and the death itself is logged once.
#[test]
fn a_dead_door_thread_is_no_grant() {
    let scene = Scene::new(
        "door-dead",
        "blank x3\nperson_a_2.jpg x15\nblank x5\n",
        "",
        "fps = 10",
    );
    let out = scene.run_with(|pins| {
        pins.contact.fail(Some(Failure::Panic));
        std::thread::sleep(Duration::from_millis(200));
    });
    assert_eq!(out.count(EventKind::Granted), 0, "{:?}", out.events);
    let faults: Vec<&Event> = out
        .events
        .iter()
        .filter(|e| e.kind == EventKind::DoorFault)
        .collect();
    let detail = Some(facegate::door::NOT_RUNNING);
    assert!(
        faults.len() == 2 && faults.iter().all(|f| f.detail.as_deref() == detail),
        "{faults:?}"
    );
    // The death (no person) and the refused grant (who it was), in the
    // order the terminal noticed them.
    let mut names: Vec<Option<&str>> = faults.iter().map(|f| f.name.as_deref()).collect();
    names.sort();
    assert_eq!(names, vec![None, Some("Emmanuel Macron")]);
    assert_eq!(out.relay_levels(), vec![false], "{:?}", out.relay);
    assert!(
        out.shown("fault") && !out.shown("granted"),
        "{:?}",
        out.screens
    );
}

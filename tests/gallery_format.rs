//! Gallery files: round trips, signatures, and every way a file can be bad.

use ed25519_dalek::SigningKey;
use facegate::gallery::format::{Body, BodyV1, HeaderV1, MAGIC, Name, Payload, People};
use facegate::gallery::{Gallery, GalleryError, Keyring, Person, Policy, quantise};
use facegate::vision::Embedding;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn sample(persons: usize) -> Gallery {
    let mut g = Gallery::new("sface-2021dec-128", [7; 32], 128, 0.363);
    for i in 0..persons {
        let e = Embedding::normalised(
            (0..128)
                .map(|j| ((i * 131 + j * 17) % 23) as f32 - 11.0)
                .collect(),
        );
        g.body.persons.push(Person {
            id: i as u32 + 1,
            name: Name::try_from(format!("Person {i}").as_str()).expect("name"),
            badge: None,
            valid_from: None,
            valid_until: None,
            templates: vec![quantise(&e, [i as u8; 16])],
        });
    }
    g
}

fn trusting(k: &SigningKey) -> Policy {
    Policy {
        keyring: Keyring::new(vec![k.verifying_key()]),
        ..Policy::default()
    }
}

/// Frames a postcard body exactly as docs/gallery-format.md says, unsigned.
/// The format-2 payload of a body, people in the clear.
fn plain(body: &Body) -> Vec<u8> {
    postcard::to_stdvec(&Payload {
        header: body.header.clone(),
        people: People::Plain(body.persons.clone()),
    })
    .expect("postcard")
}

fn frame(payload: &[u8]) -> Vec<u8> {
    frame_version(2, payload)
}

fn frame_version(version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(version.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend((payload.len() as u32).to_le_bytes());
    out.extend(payload);
    let crc = crc32fast::hash(&out);
    out.extend(crc.to_le_bytes());
    out.push(0);
    out
}

#[test]
fn round_trip_unsigned_and_signed() {
    let g = sample(3);
    let bytes = g.encode(None).expect("encode");
    let back = Gallery::decode(&bytes, &Policy::default()).expect("decode");
    assert_eq!(back.body, g.body);
    assert_eq!(back.signed_by, None);

    let k = key(1);
    let signed = g.encode(Some(&k)).expect("encode");
    let back = Gallery::decode(&signed, &trusting(&k)).expect("decode signed");
    assert_eq!(
        back.signed_by,
        Some(facegate::gallery::key_id(&k.verifying_key()))
    );
    assert_eq!(back.body.persons, g.body.persons);
    // Independent framing agrees with the encoder byte for byte.
    assert_eq!(frame(&plain(&g.body)), bytes);
    // A format-1 file (the old header, no provenance flag) still reads.
    let h = &g.body.header;
    let v1 = BodyV1 {
        header: HeaderV1 {
            model_id: h.model_id.clone(),
            weights_sha256: h.weights_sha256,
            embedding_dim: h.embedding_dim,
            encoding: h.encoding,
            version: h.version,
            created_unix: h.created_unix,
            issuer: None,
            threshold: h.threshold,
        },
        persons: g.body.persons.clone(),
    };
    let old = frame_version(1, &postcard::to_stdvec(&v1).expect("postcard"));
    let back = Gallery::decode(&old, &Policy::default()).expect("decode format 1");
    assert_eq!(back.body, g.body);
}

#[test]
fn template_costs_at_most_200_bytes() {
    let g = sample(1000);
    let bytes = g.encode(None).expect("encode");
    let per = bytes.len() as f64 / 1000.0;
    assert!(per <= 200.0, "{per} bytes per one-template person");
}

#[test]
fn truncated_files_are_refused() {
    let bytes = sample(2).encode(Some(&key(1))).expect("encode");
    for cut in 0..bytes.len() {
        let err = Gallery::decode(&bytes[..cut], &trusting(&key(1)))
            .expect_err("truncated file accepted");
        assert!(
            matches!(
                err,
                GalleryError::Truncated(_) | GalleryError::Crc { .. } | GalleryError::BadMagic
            ),
            "cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn every_bit_flip_is_caught() {
    let bytes = sample(2).encode(Some(&key(1))).expect("encode");
    for i in 0..bytes.len() {
        for bit in [0, 3, 7] {
            let mut bad = bytes.clone();
            bad[i] ^= 1 << bit;
            assert!(
                Gallery::decode(&bad, &trusting(&key(1))).is_err(),
                "flip of bit {bit} at byte {i} accepted"
            );
        }
    }
}

#[test]
fn wrong_magic_and_future_version() {
    let mut bytes = sample(1).encode(None).expect("encode");
    let mut other = bytes.clone();
    other[..4].copy_from_slice(b"PK\x03\x04");
    assert!(matches!(
        Gallery::decode(&other, &Policy::default()),
        Err(GalleryError::BadMagic)
    ));
    bytes[4] = 9;
    assert!(matches!(
        Gallery::decode(&bytes, &Policy::default()),
        Err(GalleryError::FutureVersion(9))
    ));
}

#[test]
fn length_prefixes_claiming_gigabytes_are_refused_without_allocating() {
    let bytes = sample(1).encode(None).expect("encode");
    let mut big = bytes.clone();
    big[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Gallery::decode(&big, &Policy::default()),
        Err(GalleryError::TooLarge { .. })
    ));
    // Inside the body: a person count of 2^31 (varint), CRC made valid again.
    let mut payload = plain(&sample(0).body);
    assert_eq!(payload.pop(), Some(0), "empty person list is the last byte");
    payload.extend([0x80, 0x80, 0x80, 0x80, 0x08]);
    match Gallery::decode(&frame(&payload), &Policy::default()) {
        Err(GalleryError::Malformed(_)) => {}
        other => panic!("{other:?}"),
    }
    let small = Policy {
        max_size: 100,
        ..Policy::default()
    };
    assert!(matches!(
        Gallery::decode(&bytes, &small),
        Err(GalleryError::TooLarge { .. })
    ));
}

#[test]
fn wrong_dimension_and_model_are_refused() {
    let mut body: Body = sample(1).body;
    body.header.embedding_dim = 64;
    let bytes = frame(&plain(&body));
    match Gallery::decode(&bytes, &Policy::default()) {
        Err(GalleryError::Malformed(m)) => assert!(m.contains("dimension"), "{m}"),
        other => panic!("{other:?}"),
    }
    let bytes = sample(1).encode(None).expect("encode");
    let device = Policy {
        model_id: Some("arcface-r100".into()),
        ..Policy::default()
    };
    assert!(matches!(
        Gallery::decode(&bytes, &device),
        Err(GalleryError::ModelMismatch { .. })
    ));
}

#[test]
fn signatures_are_enforced() {
    let g = sample(2);
    let k = key(1);
    let signed = g.encode(Some(&k)).expect("encode");

    // Signature bytes damaged: CRC does not cover them, the signature check does.
    let mut bad = signed.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(matches!(
        Gallery::decode(&bad, &trusting(&k)),
        Err(GalleryError::BadSignature(_))
    ));

    // Body changed and CRC recomputed: still caught by the signature.
    let mut forged = signed.clone();
    let crc_at = n - 4 - 1 - 72;
    forged[20] ^= 0x40;
    let crc = crc32fast::hash(&forged[..crc_at]);
    forged[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        Gallery::decode(&forged, &trusting(&k)),
        Err(GalleryError::BadSignature(_))
    ));

    assert!(matches!(
        Gallery::decode(&signed, &trusting(&key(2))),
        Err(GalleryError::UnknownKey(_))
    ));
    let strict = Policy {
        require_signature: true,
        ..trusting(&k)
    };
    assert!(matches!(
        Gallery::decode(&g.encode(None).expect("encode"), &strict),
        Err(GalleryError::Unsigned)
    ));
    assert!(Gallery::decode(&signed, &strict).is_ok());
}

#[test]
fn save_is_atomic_and_leaves_no_temp_files() {
    let dir = std::env::temp_dir().join(format!("facegate-gal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("g.fgal");
    sample(2).save(&path, None).expect("save");
    sample(3).save(&path, None).expect("save again");
    let back = Gallery::load(&path, &Policy::default()).expect("load");
    assert_eq!(back.persons().len(), 3);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
